"""Retention: clear old payloads, delete old finished cycles and old audit entries, in short batches.

De-duplication state is never pruned: a processed record keeps its robot, source id and status for good (only
its payload and error text go), and losing its cycle leaves it in place (``cycle`` becomes NULL). So a source
that serves an old record again still finds it a duplicate. A ``days`` setting of 0 keeps that kind forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from robot.models import ProcessedRecord, RobotAudit, RobotCycle

logger = logging.getLogger(__name__)

BATCH = 1000
CYCLE_BATCH = 100  # each deleted cycle also un-links up to ``records`` records
# Cancelled records keep their payload: the next start delivers them.
CLEARABLE = (ProcessedRecord.Status.DONE, ProcessedRecord.Status.FAILED)


def robot_prune(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Apply the robot retention settings; return how many payloads, cycles and audit entries went (or would)."""
    now = now or timezone.now()
    return {
        "robot payloads": _payloads(_cutoff(now, settings.ROBOT_PAYLOAD_RETENTION_DAYS), dry_run),
        "robot cycles": _cycles(_cutoff(now, settings.ROBOT_CYCLE_RETENTION_DAYS), dry_run),
        "robot audit": _audit(_cutoff(now, settings.ROBOT_AUDIT_RETENTION_DAYS), dry_run),
    }


def _cutoff(now: datetime, days: int) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def _payloads(cutoff: datetime | None, dry_run: bool) -> int:
    if cutoff is None:
        return 0
    old = ProcessedRecord.objects.filter(payload__isnull=False, finished_at__lt=cutoff, status__in=CLEARABLE)
    # The error text may quote the target's answer, hence the payload's data.
    return _in_batches(old, BATCH, dry_run, lambda batch: batch.update(payload=None, error=""))


def _cycles(cutoff: datetime | None, dry_run: bool) -> int:
    if cutoff is None:
        return 0
    # Finished only: the open cycle (finished_at NULL) is never pruned, however old.
    old = RobotCycle.objects.filter(finished_at__isnull=False, finished_at__lt=cutoff)
    return _in_batches(old, CYCLE_BATCH, dry_run, lambda batch: batch.delete()[1].get(RobotCycle._meta.label, 0))


def _audit(cutoff: datetime | None, dry_run: bool) -> int:
    if cutoff is None:
        return 0
    old = RobotAudit.objects.filter(created_at__lt=cutoff)
    return _in_batches(old, BATCH, dry_run, lambda batch: batch.delete()[0])


def _in_batches(old: QuerySet[Any], size: int, dry_run: bool, apply: Callable[[QuerySet[Any]], int]) -> int:
    """Apply ``apply`` to ``old`` ``size`` rows at a time, each batch its own short statement (no long locks)."""
    if dry_run:
        return old.count()
    total = 0
    while ids := list(old.order_by("pk").values_list("pk", flat=True)[:size]):
        # Filtered by ``old`` again: a row that changed since the look-up is left alone.
        done = apply(old.filter(pk__in=ids))
        total += done
        if not done:
            break
    if total:
        logger.info("pruned model=%s rows=%s", old.model._meta.label, total)
    return total
