"""Self-healing, run by the sweeper: re-arm lost chains, fail interrupted fetches, re-dispatch lost records.

Every repair is decided from the database (the source of truth) and re-checked under the robot's row lock,
so a repair can never start a second chain or give a record a second effect.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from redis import RedisError
from rq.job import JobStatus

from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain, queueing
from robot.services.control import SYSTEM, audit
from robot.services.records import record_finish

logger = logging.getLogger(__name__)

GRACE = 5.0  # seconds past due before a missing chain job or record job is treated as lost
MARGIN = 5.0  # seconds beyond a timeout before work still "in progress" is treated as abandoned
CHUNK = 500
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED)


def robot_heal_all() -> int:
    """Re-arm running robots whose chain is gone and repair interrupted cycles; return how many repairs."""
    try:
        queueing.cleanup_started()
    except RedisError as exc:
        logger.warning("robot heal skipped, redis unavailable: %s", exc)
        return 0
    healed = 0
    unfinished = RobotCycle.objects.filter(finished_at__isnull=True).values("robot_id")
    candidates = Q(state=Robot.State.RUNNING) | Q(pk__in=unfinished)
    for robot_id in Robot.objects.filter(candidates).values_list("pk", flat=True):
        try:
            healed += _heal_robot(robot_id)
        except RedisError as exc:
            logger.warning("robot heal stopped, redis unavailable: %s", exc)
            break
        except Exception:
            logger.exception("robot heal failed robot=%s", robot_id)
    return healed


def fetch_stall_seconds() -> float:
    # A fetch may last one read timeout past its total deadline (see clients.fetch_items).
    return 2 * settings.ROBOT_FETCH_TIMEOUT + MARGIN


def post_stall_seconds() -> float:
    return settings.ROBOT_POST_TIMEOUT + MARGIN


def _heal_robot(robot_id: int) -> int:
    robot = Robot.objects.get(pk=robot_id)
    cycle = chain.unfinished_cycle(robot)
    now = timezone.now()
    if cycle is None:
        return _heal_chain(robot, now) if robot.is_running else 0
    if cycle.fanned_out_at is None:
        return _heal_fetch(cycle, now)
    return _heal_records(cycle, now)


def _heal_chain(robot: Robot, now: datetime) -> int:
    overdue = (now - (robot.next_run_at or robot.updated_at)).total_seconds()
    if overdue < GRACE:
        return 0
    status = queueing.job_statuses([robot.job_id])[robot.job_id] if robot.job_id else None
    if status in WAITING or (status == JobStatus.STARTED and overdue < fetch_stall_seconds()):
        return 0
    with transaction.atomic():
        locked = chain.lock_robot(pk=robot.pk)
        if not locked.is_running or locked.job_id != robot.job_id or chain.unfinished_cycle(locked):
            return 0
        chain.arm(locked)
        audit(locked, RobotAudit.Action.HEAL, SYSTEM, f"chain re-armed: job {robot.job_id or '-'} was {status}")
    logger.warning("robot chain re-armed robot=%s lost=%s status=%s", robot.name, robot.job_id, status)
    return 1


def _heal_fetch(cycle: RobotCycle, now: datetime) -> int:
    age = (now - cycle.started_at).total_seconds()
    if age < fetch_stall_seconds():
        return 0
    with transaction.atomic():
        robot = chain.lock_robot(pk=cycle.robot_id)
        cycle.refresh_from_db()
        if cycle.finished_at is not None or cycle.fanned_out_at is not None:
            return 0
        error = f"interrupted: no fan-out {age:.0f}s after the cycle started (worker lost)"
        chain.finish_cycle(robot, cycle, RobotCycle.Status.FAILED, error)
        audit(robot, RobotAudit.Action.HEAL, SYSTEM, f"cycle {cycle.number} {error}")
    logger.warning("interrupted cycle failed robot=%s number=%s", robot.name, cycle.number)
    return 1


def _heal_records(cycle: RobotCycle, now: datetime) -> int:
    assert cycle.fanned_out_at is not None
    if (now - cycle.fanned_out_at).total_seconds() < GRACE:
        return 0
    queued = list(
        ProcessedRecord.objects.filter(cycle=cycle, status=ProcessedRecord.Status.QUEUED).only(
            "pk", "dispatches", "attempts", "started_at"
        )
    )
    statuses = queueing.job_statuses([record.job_id for record in queued])
    lost = [r for r in queued if _is_lost(r, statuses[r.job_id], cycle.fanned_out_at, now)]
    for record in lost:
        if record.attempts > settings.ROBOT_RECORD_RETRIES:
            error = f"gave up after {record.attempts} attempts: job lost ({statuses[record.job_id]})"
            record_finish(record_id=record.pk, status=ProcessedRecord.Status.FAILED, error=error)
    retry = [r for r in lost if r.attempts <= settings.ROBOT_RECORD_RETRIES]
    stale = [r.job_id for r in retry if statuses[r.job_id] == JobStatus.SCHEDULED]
    _redispatch(cycle.robot_id, [r.pk for r in retry], stale)
    if lost:
        logger.warning("records re-dispatched robot=%s cycle=%s count=%s", cycle.robot_id, cycle.number, len(lost))
    return len(lost)


def _is_lost(record: ProcessedRecord, status: str | None, fanned_out_at: datetime, now: datetime) -> bool:
    if status in WAITING:
        return False
    age = (now - (record.started_at or fanned_out_at)).total_seconds()
    if status == JobStatus.STARTED:
        return age > post_stall_seconds()
    if status == JobStatus.SCHEDULED:
        return age > post_stall_seconds() + max(queueing.RETRY_BACKOFF) + GRACE
    return True


def _redispatch(robot_id: int, record_ids: list[int], stale_job_ids: list[str]) -> None:
    if not record_ids:
        return
    with transaction.atomic():
        chain.lock_robot(pk=robot_id)
        jobs: list[tuple[int, str]] = []
        for start in range(0, len(record_ids), CHUNK):
            still = ProcessedRecord.objects.filter(
                pk__in=record_ids[start : start + CHUNK], status=ProcessedRecord.Status.QUEUED
            )
            ids = list(still.values_list("pk", flat=True))
            ProcessedRecord.objects.filter(pk__in=ids).update(dispatches=F("dispatches") + 1)
            jobs += [(r.pk, r.job_id) for r in ProcessedRecord.objects.filter(pk__in=ids).only("pk", "dispatches")]
        # A retry whose scheduler died is deleted, so it cannot also run when that scheduler comes back.
        queueing.after_commit(partial(queueing.delete_record_jobs, stale_job_ids), "delete stale record jobs")
        queueing.after_commit(partial(queueing.enqueue_records, jobs), f"re-dispatch {len(jobs)} records")
