"""The chain: one token per robot names the only job allowed to start its next cycle.

Every function here runs inside a transaction that holds the robot's row lock (``lock_robot``); Redis work is
deferred to after commit. Lock order everywhere: robot, then cycle, then record.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from functools import partial

from django.db.models import Count, F
from django.utils import timezone

from asyncportal import queues
from robot import errors
from robot.errors import RobotError
from robot.models import PENDING, ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import queueing
from robot.services.audit import SYSTEM, audit

logger = logging.getLogger(__name__)


def lock_robot(**lookup: object) -> Robot:
    """Return the robot row locked for this transaction (SQLite: the IMMEDIATE transaction is the lock)."""
    try:
        return Robot.objects.select_for_update().get(**lookup)
    except Robot.DoesNotExist:
        raise RobotError(errors.NOT_FOUND) from None


def unfinished_cycle(robot: Robot) -> RobotCycle | None:
    return RobotCycle.objects.filter(robot=robot, finished_at__isnull=True).first()


def arm(robot: Robot, *, run_at: datetime | None = None) -> str:
    """Give the robot a new token due at ``run_at`` (now by default); enqueue its job after commit."""
    old = robot.chain_token
    robot.chain_token = f"robot-{robot.pk}-{uuid.uuid4().hex}"
    robot.next_run_at = run_at or timezone.now()
    robot.save(update_fields=["chain_token", "next_run_at", "updated_at"])
    if old:
        queues.after_commit(partial(queueing.discard_cycle, robot.pk, old), f"discard {old}")
    queues.after_commit(
        partial(queueing.schedule_cycle, robot.pk, robot.chain_token, robot.next_run_at), f"enqueue {robot.chain_token}"
    )
    logger.info("robot armed robot=%s token=%s run_at=%s", robot.name, robot.chain_token, robot.next_run_at)
    return robot.chain_token


def disarm(robot: Robot) -> None:
    """Withdraw the token: a job that still carries it will do nothing; remove it from RQ after commit."""
    old = robot.chain_token
    robot.chain_token = ""
    robot.next_run_at = None
    robot.save(update_fields=["chain_token", "next_run_at", "updated_at"])
    if old:
        queues.after_commit(partial(queueing.discard_cycle, robot.pk, old), f"discard {old}")


def record_counts(cycle_id: int) -> dict[str, int]:
    """Count a cycle's records by status (one indexed query; nothing counts them one by one)."""
    rows = ProcessedRecord.objects.filter(cycle_id=cycle_id).values_list("status").annotate(n=Count("pk"))
    return {status: n for status, n in rows}


def finish_cycle(robot: Robot, cycle: RobotCycle, status: str, error: str = "", code: str = "") -> None:
    """End ``cycle``, add its counts to the robot's totals and, if the robot runs, arm the next cycle
    (or pause the robot when this was one failed cycle too many)."""
    counts = record_counts(cycle.pk)
    cycle.done = counts.get(ProcessedRecord.Status.DONE, 0)
    cycle.failed += counts.get(ProcessedRecord.Status.FAILED, 0)  # plus the items refused at fan-out
    cycle.cancelled = counts.get(ProcessedRecord.Status.CANCELLED, 0)
    cycle.status = status
    cycle.error_code = code
    cycle.error = error[:2000]
    cycle.finished_at = timezone.now()
    cycle.save(update_fields=["done", "failed", "cancelled", "status", "error_code", "error", "finished_at"])
    Robot.objects.filter(pk=robot.pk).update(
        cycles_completed=F("cycles_completed") + 1,
        total_fetched=F("total_fetched") + cycle.fetched,
        total_done=F("total_done") + cycle.done,
        total_failed=F("total_failed") + cycle.failed,
        total_duplicates=F("total_duplicates") + cycle.duplicates,
        total_cancelled=F("total_cancelled") + cycle.cancelled,
        **({"last_error": f"cycle {cycle.number}: {error}"[:2000]} if error else {}),
        **_failure_streak(robot, cycle),
    )
    logger.info(
        "cycle finished robot=%s number=%s status=%s fetched=%s done=%s failed=%s duplicates=%s cancelled=%s",
        robot.name,
        cycle.number,
        status,
        cycle.fetched,
        cycle.done,
        cycle.failed,
        cycle.duplicates,
        cycle.cancelled,
    )
    if robot.is_running and status == RobotCycle.Status.FAILED and _too_many_failures(robot):
        pause(robot, f"paused after {robot.failed_cycles_in_a_row} consecutive failed cycles; last: {code or status}")
    elif robot.is_running:
        # The pause is measured from the end of this cycle, so cycles never overlap.
        arm(robot, run_at=cycle.finished_at + timedelta(seconds=robot.interval))
    elif robot.chain_token:
        disarm(robot)


def _failure_streak(robot: Robot, cycle: RobotCycle) -> dict[str, int]:
    """Count consecutive failed cycles on the (locked) robot row: once per cycle, never per record.

    A retry cycle fetches nothing, so it says nothing about the source and leaves the count alone.
    """
    if cycle.retry_of is not None:
        return {}
    failed = cycle.status == RobotCycle.Status.FAILED
    robot.failed_cycles_in_a_row = robot.failed_cycles_in_a_row + 1 if failed else 0
    return {"failed_cycles_in_a_row": robot.failed_cycles_in_a_row}


def _too_many_failures(robot: Robot) -> bool:
    return 0 < robot.max_failed_cycles <= robot.failed_cycles_in_a_row


def pause(robot: Robot, reason: str) -> None:
    """End the chain of a running robot that keeps failing; only an operator's start resumes it."""
    robot.state = Robot.State.PAUSED
    robot.paused_at = timezone.now()
    robot.paused_reason = reason[:255]
    robot.save(update_fields=["state", "paused_at", "paused_reason", "updated_at"])
    disarm(robot)
    audit(robot, RobotAudit.Action.PAUSE, SYSTEM, reason)
    logger.warning("robot paused robot=%s: %s", robot.name, reason)


def settle_if_complete(robot: Robot, cycle_id: int) -> bool:
    """Finish the fanned-out cycle once none of its records is pending; return whether this call finished it."""
    cycle = RobotCycle.objects.get(pk=cycle_id)
    if cycle.finished_at is not None or cycle.fanned_out_at is None:
        return False
    if ProcessedRecord.objects.filter(cycle_id=cycle_id, status__in=PENDING).exists():
        return False
    cancelled = ProcessedRecord.objects.filter(cycle_id=cycle_id, status=ProcessedRecord.Status.CANCELLED).exists()
    finish_cycle(robot, cycle, RobotCycle.Status.CANCELLED if cancelled else RobotCycle.Status.FINISHED)
    return True
