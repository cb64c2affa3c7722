"""Self-healing, run by the sweeper: re-arm lost chains, fail interrupted fetches, re-dispatch lost records.

Every repair is decided from the database (the source of truth) and re-checked under the robot's row lock,
so a repair can never start a second chain or give a record a second effect.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from redis import RedisError
from rq.job import JobStatus

from asyncportal import queues
from robot.models import PENDING, ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain, queueing, records
from robot.services.audit import SYSTEM, audit

logger = logging.getLogger(__name__)

WORKER_LOST = "worker_lost"
GRACE = 5.0  # seconds past due before a missing chain job or record job is treated as lost
MARGIN = 5.0  # seconds beyond a timeout before work still "in progress" is treated as abandoned
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED)
ALIVE = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.STARTED)


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
    robot_ids = list(Robot.objects.filter(candidates).values_list("pk", flat=True))
    try:
        stranded = {job for name in (queues.ROBOT, queues.RECORDS) for job in queueing.stranded(name, older_than=GRACE)}
    except RedisError as exc:
        logger.warning("robot heal skipped, redis unavailable: %s", exc)
        return 0
    for robot_id in robot_ids:
        try:
            healed += _heal_robot(robot_id, stranded)
        except RedisError as exc:
            logger.warning("robot heal stopped, redis unavailable: %s", exc)
            break
        except Exception:
            logger.exception("robot heal failed robot=%s", robot_id)
    return healed


def fetch_stall_seconds() -> float:
    # The fetch ends by its total deadline (clients.deadline); the margin covers storing the batch.
    return settings.ROBOT_FETCH_TIMEOUT + MARGIN


def _heal_robot(robot_id: int, stranded: set[str]) -> int:
    robot = Robot.objects.get(pk=robot_id)
    cycle = chain.unfinished_cycle(robot)
    now = timezone.now()
    if cycle is None:
        return _heal_chain(robot, now, stranded) if robot.is_running else 0
    if cycle.fanned_out_at is None:
        return _heal_fetch(cycle, now)
    return _heal_records(cycle, now, stranded)


def _heal_chain(robot: Robot, now: datetime, stranded: set[str]) -> int:
    overdue = (now - (robot.next_run_at or robot.updated_at)).total_seconds()
    if overdue < GRACE:
        return 0
    status = queues.job_statuses([robot.chain_token])[robot.chain_token] if robot.chain_token else None
    if robot.chain_token in stranded:
        status = "stranded"
    if status in WAITING or (status == JobStatus.STARTED and overdue < fetch_stall_seconds()):
        return 0
    with transaction.atomic():
        locked = chain.lock_robot(pk=robot.pk)
        if not locked.is_running or locked.chain_token != robot.chain_token or chain.unfinished_cycle(locked):
            return 0
        chain.arm(locked)
        audit(locked, RobotAudit.Action.HEAL, SYSTEM, f"chain re-armed: job {robot.chain_token or '-'} was {status}")
    logger.warning("robot chain re-armed robot=%s lost=%s status=%s", robot.name, robot.chain_token, status)
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
        error = f"the cycle's worker was lost: no records stored {age:.0f} s after the cycle started"
        chain.finish_cycle(robot, cycle, RobotCycle.Status.FAILED, error, WORKER_LOST)
        audit(robot, RobotAudit.Action.HEAL, SYSTEM, f"cycle {cycle.number} {error}")
    logger.warning("interrupted cycle failed robot=%s number=%s", robot.name, cycle.number)
    return 1


def _heal_records(cycle: RobotCycle, now: datetime, stranded: set[str]) -> int:
    """Re-dispatch the cycle's records whose job is gone or whose lease ran out; settle the cycle if it can."""
    assert cycle.fanned_out_at is not None
    if (now - cycle.fanned_out_at).total_seconds() < GRACE:
        return 0
    pending: list[Any] = list(
        ProcessedRecord.objects.filter(cycle=cycle, status__in=PENDING).values(
            "pk", "status", "dispatch", "job_id", "lease_until", "dispatched_at", "attempts", "cycle_id"
        )
    )
    if not pending:
        return int(records.settle_if_complete(cycle.pk))
    lost = [row for row in pending if row["lease_until"] is not None and row["lease_until"] < now]
    waiting = [row for row in pending if row["lease_until"] is None and _age(row, cycle, now) >= GRACE]
    waiting = [row for row in waiting if row["status"] == ProcessedRecord.Status.QUEUED]
    gone = _gone_jobs({row["job_id"]: _age(row, cycle, now) for row in waiting}, now) | stranded
    lost += [row for row in waiting if row["job_id"] in gone]
    for row in lost:
        _recover(row)
    if lost:
        logger.warning("records re-dispatched robot=%s cycle=%s count=%s", cycle.robot_id, cycle.number, len(lost))
    records.settle_if_complete(cycle.pk)
    return len(lost)


def _age(row: dict[str, Any], cycle: RobotCycle, now: datetime) -> float:
    return (now - (row["dispatched_at"] or cycle.fanned_out_at or now)).total_seconds()


def _gone_jobs(ages: dict[str, float], now: datetime) -> set[str]:
    """Return the jobs that will never claim their records: unknown, ended, started but silent, or a retry
    whose scheduler is gone (``ages``: seconds since each job was made)."""
    if not ages:
        return set()
    ordered = sorted(ages)
    statuses = queues.job_statuses(ordered)
    started = queues.job_started([job_id for job_id in ordered if statuses[job_id] == JobStatus.STARTED])
    gone = {job_id for job_id, status in statuses.items() if status not in ALIVE}
    # A started job reserves its records at once; one that has not after GRACE lost its worker.
    gone |= {job_id for job_id, at in started.items() if at is None or (now - at).total_seconds() >= GRACE}
    overdue = max(queueing.RETRY_BACKOFF) + 3 * GRACE
    gone |= {job_id for job_id in ordered if statuses[job_id] == JobStatus.SCHEDULED and ages[job_id] > overdue}
    return gone


def _recover(row: dict[str, Any]) -> None:
    """Fail a record that used up its attempts, otherwise give it a new dispatch (fencing the old job out)."""
    status = row["status"]
    fence = ProcessedRecord.objects.filter(pk=row["pk"], status=status, dispatch=row["dispatch"])
    if status == ProcessedRecord.Status.PROCESSING and row["attempts"] > settings.ROBOT_RECORD_RETRIES:
        error = f"gave up after {row['attempts']} attempts: the delivery outlived its lease (worker lost)"
        fence.update(status=ProcessedRecord.Status.FAILED, error=error, finished_at=timezone.now(), lease_until=None)
        return
    if records.stopping(row["cycle_id"]):
        lost = "delivery lost while the cycle was stopped now; delivered by the next start"
        records.cancel_in_flight(row, lost, status)
        return
    dispatch = row["dispatch"] + 1
    job_id = queueing.record_job_id(row["pk"], dispatch)
    if fence.update(
        status=ProcessedRecord.Status.QUEUED,
        dispatch=dispatch,
        job_id=job_id,
        dispatched_at=timezone.now(),
        lease_until=None,
    ):
        queueing.enqueue_records([(job_id, [(row["pk"], dispatch)])])
