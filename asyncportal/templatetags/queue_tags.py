"""``{% queue_stats as queues %}``: the queue layer's figures for the admin index (None when Redis is unknown)."""

from __future__ import annotations

from django import template

from asyncportal import queue_stats as stats

register = template.Library()


@register.simple_tag
def queue_stats() -> list[stats.QueueStats] | None:
    return stats.queue_stats()
