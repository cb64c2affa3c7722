"""Create, update, start, stop and run robots; every change is audited with who, when and from where."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from robot import errors, outbound
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from robot.services import chain
from robot.services.audit import Actor, audit
from robot.services.params import apply_values

logger = logging.getLogger(__name__)


def robot_save(*, name: str, values: Mapping[str, Any], actor: Actor) -> tuple[Robot, bool]:
    """Create robot ``name`` (stopped) or update the given settings; return ``(robot, created)``."""
    try:
        return _save(name, values, actor)
    except IntegrityError:
        # Another request created the same name between our look-up and insert: update it instead.
        return _save(name, values, actor)


@transaction.atomic
def _save(name: str, values: Mapping[str, Any], actor: Actor) -> tuple[Robot, bool]:
    robot = Robot.objects.select_for_update().filter(name=name).first()
    if robot is None:
        robot = Robot(name=name)
        apply_values(robot, values)
        robot.save()
        audit(robot, RobotAudit.Action.CREATE, actor, _describe(values))
        return robot, True
    changed = apply_values(robot, values)
    if changed:
        # update_fields: never overwrite state, token or totals that workers change concurrently.
        robot.save(update_fields=[*changed, "updated_at"])
        audit(robot, RobotAudit.Action.UPDATE, actor, _describe(values))
    return robot, False


@transaction.atomic
def robot_start(*, name: str, values: Mapping[str, Any] | None = None, actor: Actor) -> Robot:
    """Move a stopped or paused robot to running and start its chain now; refuse with ``already_running``.

    Starting is the operator's answer to a pause: the count of failed cycles starts again from zero.
    """
    robot = chain.lock_robot(name=name)
    if robot.is_running:
        raise RobotError(errors.ALREADY_RUNNING, f"Robot {name} is already running.")
    changed = apply_values(robot, values or {})
    robot.state = Robot.State.RUNNING
    robot.save(update_fields=[*changed, "state", *_unpause(robot), "updated_at"])
    if chain.unfinished_cycle(robot) is None:
        chain.arm(robot)
    # Otherwise the unfinished cycle (stopped a moment ago) arms the next one when it ends: still one chain.
    audit(robot, RobotAudit.Action.START, actor, _describe(values or {}))
    return robot


@transaction.atomic
def robot_stop(*, name: str, now: bool = False, actor: Actor) -> Robot:
    """Stop scheduling cycles (idempotent); with ``now`` also cancel the current cycle's queued records."""
    robot = chain.lock_robot(name=name)
    robot.state = Robot.State.STOPPED
    robot.save(update_fields=["state", *_unpause(robot), "updated_at"])
    chain.disarm(robot)
    cancelled = _cancel_current_cycle(robot) if now else 0
    action = RobotAudit.Action.STOP_NOW if now else RobotAudit.Action.STOP
    audit(robot, action, actor, f"cancelled={cancelled}" if now else "")
    return robot


@transaction.atomic
def robot_run_once(*, name: str, actor: Actor) -> Robot:
    """Run one cycle now (a stopped robot stays stopped afterwards); refused while a cycle is unfinished."""
    robot = chain.lock_robot(name=name)
    current = chain.unfinished_cycle(robot)
    if current is not None:
        raise RobotError(errors.CYCLE_IN_PROGRESS, f"Cycle {current.number} of robot {name} is in progress.")
    chain.arm(robot)
    audit(robot, RobotAudit.Action.RUN_ONCE, actor)
    return robot


def robot_delete_refusal(robot: Robot) -> RobotError | None:
    """Return why ``robot`` may not be deleted (running, or any cycle or processed record), else None."""
    if robot.is_running:
        return RobotError(errors.RUNNING, f"Robot {robot.name} is running; stop it first.")
    record_count = ProcessedRecord.objects.filter(robot=robot).count()
    cycle_count = RobotCycle.objects.filter(robot=robot).count()
    if record_count or cycle_count:
        return RobotError(
            errors.HAS_HISTORY,
            f"Robot {robot.name} has {record_count} processed records and {cycle_count} cycles; stop it instead "
            "- history is kept for de-duplication.",
        )
    return None


@transaction.atomic
def robot_delete(*, name: str, actor: Actor) -> None:
    """Delete a stopped robot that never ran a cycle; its audit stays, with this deletion as the last entry."""
    robot = chain.lock_robot(name=name)
    refusal = robot_delete_refusal(robot)
    if refusal is not None:
        raise refusal
    chain.disarm(robot)  # a run-once armed but not yet started must not start a cycle of a deleted robot
    audit(robot, RobotAudit.Action.DELETE, actor)
    robot.delete()
    logger.info("robot deleted robot=%s by=%s", name, actor.name)


def _cancel_current_cycle(robot: Robot) -> int:
    """Cancel the records not yet being delivered (a later start delivers them); let the ones in flight end.

    The new dispatch number fences their queued jobs out. The cycle ends as cancelled as soon as no record is
    being delivered: now, or when the last delivery in flight ends (within its lease).
    """
    cycle = chain.unfinished_cycle(robot)
    if cycle is None:
        return 0
    if cycle.fanned_out_at is None:
        chain.finish_cycle(robot, cycle, RobotCycle.Status.CANCELLED, "stopped now before its records were stored")
        return 0
    cancelled = ProcessedRecord.objects.filter(cycle=cycle, status=ProcessedRecord.Status.QUEUED).update(
        status=ProcessedRecord.Status.CANCELLED,
        dispatch=F("dispatch") + 1,
        lease_until=None,
        finished_at=timezone.now(),
    )
    chain.settle_if_complete(robot, cycle.pk)
    logger.info("robot stopped now robot=%s cycle=%s cancelled=%s", robot.name, cycle.number, cancelled)
    return cancelled


def _unpause(robot: Robot) -> list[str]:
    """Forget a pause and the failures that led to it; return the fields to save."""
    robot.failed_cycles_in_a_row = 0
    robot.paused_at = None
    robot.paused_reason = ""
    return ["failed_cycles_in_a_row", "paused_at", "paused_reason"]


def _describe(values: Mapping[str, Any]) -> str:
    shown = {key: outbound.redact(value) if key.endswith("_url") else value for key, value in values.items()}
    return ", ".join(f"{key}={value}" for key, value in sorted(shown.items()))
