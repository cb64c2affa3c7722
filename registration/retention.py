"""Retention of registrations: finished ones (with their names, phone and email) go after the retention period."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from registration.idempotency import idempotency_keys_prune
from registration.models import FINAL, Registration

logger = logging.getLogger(__name__)

BATCH = 1000


def registration_prune(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Delete registrations done, failed or rejected more than ``REGISTRATION_RETENTION_DAYS`` ago (0: never),
    and the ``Idempotency-Key`` rows older than ``REGISTRATION_IDEMPOTENCY_TTL``.

    One still pending, queued or processing is never deleted, however old. ``updated_at`` is when it became
    final: a retried registration is in flight again and starts a new period when it ends.
    """
    keys = idempotency_keys_prune(dry_run=dry_run, now=now)
    days: int = settings.REGISTRATION_RETENTION_DAYS
    if days <= 0:
        return {"registrations": 0, "idempotency keys": keys}
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = Registration.objects.filter(status__in=FINAL, updated_at__lt=cutoff)
    if dry_run:
        return {"registrations": old.count(), "idempotency keys": keys}
    total = 0
    # Short batches, each re-filtered: a row retried since the look-up is in flight again and stays.
    while ids := list(old.order_by("pk").values_list("pk", flat=True)[:BATCH]):
        deleted, _ = old.filter(pk__in=ids).delete()
        total += deleted
        if not deleted:
            break
    if total:
        logger.info("registrations pruned count=%s", total)
    return {"registrations": total, "idempotency keys": keys}
