"""Read-side of the robot: status and history as plain dicts for the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis import RedisError

from asyncportal import queues
from robot import errors, outbound
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import chain

ALIVE = ("queued", "scheduled", "started", "deferred")


def robot_get(name: str) -> Robot:
    try:
        return Robot.objects.get(name=name)
    except Robot.DoesNotExist:
        raise RobotError(errors.NOT_FOUND, f"No robot named {name!r}.") from None


def robot_status(robot: Robot) -> dict[str, Any]:
    """Return the robot's settings, state, chain and totals, with its current and last finished cycle."""
    current = RobotCycle.objects.filter(robot=robot, finished_at__isnull=True).first()
    last = RobotCycle.objects.filter(robot=robot, finished_at__isnull=False).order_by("-number").first()
    return {
        "name": robot.name,
        "state": robot.state,
        "msg": robot.msg,
        # Redacted: a row stored before URL credentials were refused must not show them.
        "source_url": outbound.redact(robot.source_url),
        "target_url": outbound.redact(robot.target_url) or None,
        # The secrets' names and whether this process sees them set; never their values.
        "source_secret": robot.source_secret or None,
        "source_secret_set": outbound.secret_is_set(robot.source_secret) if robot.source_secret else None,
        "target_secret": robot.target_secret or None,
        "target_secret_set": outbound.secret_is_set(robot.target_secret) if robot.target_secret else None,
        # The seed's names and, beside them, what they are (the model's names).
        "records": robot.batch_size,
        "batch_size": robot.batch_size,
        "chunk_size": robot.chunk_size,
        "timedelta": robot.interval,
        "interval": robot.interval,
        "job_id": robot.chain_token or None,
        "chain_token": robot.chain_token or None,
        "next_run_at": _iso(robot.next_run_at),
        "max_failed_cycles": robot.max_failed_cycles,
        "failed_cycles_in_a_row": robot.failed_cycles_in_a_row,
        "paused_at": _iso(robot.paused_at),
        "paused_reason": robot.paused_reason or None,
        "cycles_completed": robot.cycles_completed,
        "current_cycle": cycle_dict(current) if current else None,
        "last_cycle": cycle_dict(last) if last else None,
        "totals": {
            "fetched": robot.total_fetched,
            "done": robot.total_done,
            "failed": robot.total_failed,
            "duplicates": robot.total_duplicates,
            "cancelled": robot.total_cancelled,
        },
        "last_error": robot.last_error or None,
    }


def robot_cycles(robot: Robot, *, limit: int = 20) -> list[dict[str, Any]]:
    """Return the robot's most recent cycles, newest first."""
    return [cycle_dict(cycle) for cycle in RobotCycle.objects.filter(robot=robot).order_by("-number")[:limit]]


def cycle_dict(cycle: RobotCycle) -> dict[str, Any]:
    """Return the cycle; a running one's outcome counts come live from its records' statuses."""
    if cycle.finished_at is None and cycle.fanned_out_at is not None:
        counts = chain.record_counts(cycle.pk)
        cycle.done = counts.get(ProcessedRecord.Status.DONE, 0)
        cycle.failed += counts.get(ProcessedRecord.Status.FAILED, 0)
        cycle.cancelled = counts.get(ProcessedRecord.Status.CANCELLED, 0)
    return {
        "number": cycle.number,
        "status": cycle.status,
        "started_at": _iso(cycle.started_at),
        "fanned_out_at": _iso(cycle.fanned_out_at),
        "finished_at": _iso(cycle.finished_at),
        "fetched": cycle.fetched,
        "dispatched": cycle.dispatched,
        "done": cycle.done,
        "failed": cycle.failed,
        "duplicates": cycle.duplicates,
        "cancelled": cycle.cancelled,
        "error_code": cycle.error_code or None,
        "error": cycle.error or None,
        "retry_of": cycle.retry_of,
    }


def chain_job_found(robot: Robot) -> str:
    """Return "Found" when the robot's chain job is alive in RQ, "NotFound" when not, "Unknown" without Redis."""
    if not robot.chain_token:
        return "NotFound"
    try:
        status = queues.job_statuses([robot.chain_token])[robot.chain_token]
    except RedisError:
        return "Unknown"
    return "Found" if status in ALIVE else "NotFound"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
