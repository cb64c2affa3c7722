"""Registration business rules (stub: filled in by the registration work)."""

from __future__ import annotations


def registration_enqueue_stale() -> int:
    """Enqueue registrations that are stored but not on the queue (e.g. Redis was down); return how many."""
    return 0
