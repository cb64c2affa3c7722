"""Processing one record: store it (done at fan-out), POST it to the target, make its status final once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from robot import clients, errors
from robot.errors import RobotError
from robot.models import ProcessedRecord, RobotCycle
from robot.services import chain

logger = logging.getLogger(__name__)

SKIPPED = "skipped"
COUNTER = {
    ProcessedRecord.Status.DONE: "done",
    ProcessedRecord.Status.FAILED: "failed",
    ProcessedRecord.Status.CANCELLED: "cancelled",
}


def idempotency_key(robot_name: str, source_id: str) -> str:
    return f"{robot_name}:{source_id}"


def record_process(*, record_id: int, can_retry: bool) -> str:
    """Deliver a queued record and return its final status; a record no longer queued is left alone.

    A transient failure raises ``RobotError(RETRY)`` while ``can_retry`` (RQ then retries with backoff) and
    attempts remain; after that it becomes a final failure.
    """
    started = ProcessedRecord.objects.filter(pk=record_id, status=ProcessedRecord.Status.QUEUED).update(
        attempts=F("attempts") + 1, started_at=timezone.now()
    )
    if not started:
        logger.info("record not queued, duplicate delivery ignored record=%s", record_id)
        return SKIPPED
    record = ProcessedRecord.objects.select_related("robot").get(pk=record_id)
    status, error = ProcessedRecord.Status.DONE, ""
    if record.robot.target_url:
        outcome = clients.post_record(
            record.robot.target_url,
            record.payload,
            idempotency_key=idempotency_key(record.robot.name, record.source_id),
        )
        if outcome.transient and can_retry and record.attempts <= settings.ROBOT_RECORD_RETRIES:
            logger.info("record transient failure, retrying record=%s: %s", record_id, outcome.detail)
            raise RobotError(errors.RETRY, outcome.detail)
        if not outcome.ok:
            status, error = ProcessedRecord.Status.FAILED, f"{outcome.detail} (attempt {record.attempts})"
    return status if record_finish(record_id=record_id, status=status, error=error) else SKIPPED


@transaction.atomic
def record_finish(*, record_id: int, status: str, error: str = "") -> bool:
    """Make a queued record final, count it on its cycle and finish the cycle when it was the last one."""
    robot_id, cycle_id = ProcessedRecord.objects.values_list("robot_id", "cycle_id").get(pk=record_id)
    robot = chain.lock_robot(pk=robot_id)
    changed = ProcessedRecord.objects.filter(pk=record_id, status=ProcessedRecord.Status.QUEUED).update(
        status=status, error=error[:2000], finished_at=timezone.now()
    )
    if not changed:
        return False
    counter = COUNTER[ProcessedRecord.Status(status)]
    RobotCycle.objects.filter(pk=cycle_id).update(**{counter: F(counter) + 1})
    chain.settle_if_complete(robot, cycle_id)
    return True
