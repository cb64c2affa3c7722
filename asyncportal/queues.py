"""Queue names and the one way to get a queue (always with the JSON serializer from settings)."""

from __future__ import annotations

import django_rq
from redis import Redis
from rq import Queue

REGISTRATIONS = "registrations"
ROBOT = "robot"
RECORDS = "records"
ALL = (REGISTRATIONS, ROBOT, RECORDS)


def get_queue(name: str) -> Queue:
    """Return the configured queue ``name``; its serializer comes from ``RQ_QUEUES``."""
    return django_rq.get_queue(name)


def get_connection() -> Redis:
    return django_rq.get_connection(REGISTRATIONS)
