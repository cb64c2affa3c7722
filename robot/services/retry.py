"""Retry the failed records of a finished cycle once more, in a cycle of their own.

A retry cycle fetches nothing: under the robot lock, and only while no cycle of the robot is unfinished, the
records that ``failed`` in the given cycle move into a new cycle (``retry_of`` = that cycle's number), queued
under new dispatch numbers, and go out through the same fenced record jobs as any fan-out, with the same
``Idempotency-Key``. Their ``attempts`` start again from zero: a retry is one more round of delivery, with the
usual retries of a transient failure. The new cycle counts their outcomes; the robot's ``total_failed`` gives
them back until they are final again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from asyncportal import queues
from robot import errors
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain, queueing
from robot.services.audit import Actor, audit
from robot.services.cycle import chunks, requeue_into

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retried:
    """What a retry did: the retry cycle's number (None when the cycle had no failed record) and its size."""

    retry_of: int
    cycle: int | None
    requeued: int


@transaction.atomic
def cycle_retry_failed(*, name: str, number: int, actor: Actor) -> Retried:
    """Re-deliver the failed records of cycle ``number`` in a new cycle; refused while a cycle is unfinished."""
    robot = chain.lock_robot(name=name)
    cycle = RobotCycle.objects.filter(robot=robot, number=number).first()
    if cycle is None:
        raise RobotError(errors.NOT_FOUND, f"Robot {name} has no cycle {number}.")
    current = chain.unfinished_cycle(robot)
    if current is not None:
        raise RobotError(errors.CYCLE_IN_PROGRESS, f"Cycle {current.number} of robot {name} is in progress.")
    failed = list(
        ProcessedRecord.objects.filter(cycle=cycle, status=ProcessedRecord.Status.FAILED)
        .order_by("pk")
        .only("pk", "dispatch")
    )
    if not failed:
        audit(robot, RobotAudit.Action.RETRY, actor, f"cycle {number}: no failed records")
        return Retried(retry_of=number, cycle=None, requeued=0)
    retry = _open_retry_cycle(robot, cycle, len(failed))
    requeue_into(retry, failed, robot.chunk_size, attempts=0)
    # They were counted as failed when their cycle ended; the retry cycle counts them again when it ends.
    # Greatest: totals edited by hand must not turn a retry into an integrity error.
    Robot.objects.filter(pk=robot.pk).update(total_failed=Greatest(F("total_failed") - len(failed), 0))
    jobs = chunks(failed, robot.chunk_size)
    queues.after_commit(partial(queueing.enqueue_records, jobs), f"enqueue {len(failed)} retried records")
    audit(
        robot, RobotAudit.Action.RETRY, actor, f"cycle {number}: {len(failed)} failed records in cycle {retry.number}"
    )
    logger.info("failed records retried robot=%s cycle=%s retry=%s count=%s", name, number, retry.number, len(failed))
    return Retried(retry_of=number, cycle=retry.number, requeued=len(failed))


def robot_retry_latest_failed(*, name: str, actor: Actor) -> Retried:
    """Retry the failed records of the robot's latest finished cycle that had any (the panel's button)."""
    latest = (
        RobotCycle.objects.filter(robot__name=name, finished_at__isnull=False, failed__gt=0).order_by("-number").first()
    )
    if latest is None:
        raise RobotError(errors.NOT_FOUND, f"Robot {name} has no finished cycle with failed records.")
    return cycle_retry_failed(name=name, number=latest.number, actor=actor)


def _open_retry_cycle(robot: Robot, cycle: RobotCycle, size: int) -> RobotCycle:
    now = timezone.now()
    return RobotCycle.objects.create(
        robot=robot,
        number=(robot.cycles.aggregate(n=Max("number"))["n"] or 0) + 1,
        started_at=now,
        fanned_out_at=now,
        dispatched=size,
        retry_of=cycle.number,
    )
