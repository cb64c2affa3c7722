"""One cycle: claim it with the chain token, fetch outside any transaction, fan the records out."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from robot import clients
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import chain, queueing

logger = logging.getLogger(__name__)

MAX_EARLY_WAIT = 2.5  # seconds a cycle job may wait for its time (see queueing.enqueue_cycle)
ID_MAX_LENGTH = 255
IN_CHUNK = 500


@dataclass(frozen=True)
class Claim:
    cycle_id: int
    source_url: str
    limit: int
    after: str


@dataclass
class Batch:
    """A fetched batch split into new records, failures (no usable id) and duplicates."""

    new: dict[str, Any]
    failed: int = 0
    duplicates: int = 0
    highest: str = ""


def cycle_run(*, robot_id: int, token: str) -> int | None:
    """Run one cycle if ``token`` is the robot's current token; return the cycle id, None for a stale job."""
    _wait_until_due(robot_id, token)
    claim = _claim(robot_id, token)
    if claim is None:
        return None
    try:
        items = clients.fetch_items(claim.source_url, limit=claim.limit, after=claim.after)
    except clients.FetchError as exc:
        logger.warning("fetch failed cycle=%s: %s", claim.cycle_id, exc)
        _fail(claim.cycle_id, str(exc))
        return claim.cycle_id
    try:
        _fan_out(claim.cycle_id, items)
    except Exception as exc:  # noqa: BLE001 - whatever the batch did to the database, the chain must go on.
        logger.exception("fan-out failed cycle=%s", claim.cycle_id)
        _fail(claim.cycle_id, f"fan-out failed: {type(exc).__name__}: {exc}")
    return claim.cycle_id


def _wait_until_due(robot_id: int, token: str) -> None:
    robot = Robot.objects.filter(pk=robot_id, job_id=token).only("next_run_at").first()
    if robot is not None and robot.next_run_at is not None:
        early = (robot.next_run_at - timezone.now()).total_seconds()
        if early > 0:
            time.sleep(min(early, MAX_EARLY_WAIT))


def _claim(robot_id: int, token: str) -> Claim | None:
    try:
        with transaction.atomic():
            robot = chain.lock_robot(pk=robot_id)
            if robot.job_id != token:
                logger.info("stale cycle job ignored robot=%s token=%s current=%s", robot_id, token, robot.job_id)
                return None
            if chain.unfinished_cycle(robot) is not None:
                logger.info("cycle job ignored, a cycle is unfinished robot=%s token=%s", robot_id, token)
                return None
            number = (robot.cycles.aggregate(n=Max("number"))["n"] or 0) + 1
            cycle = RobotCycle.objects.create(robot=robot, number=number, job_id=token, started_at=timezone.now())
    except RobotError:
        logger.info("cycle job for a deleted robot ignored robot=%s", robot_id)
        return None
    except IntegrityError:
        logger.warning("cycle claim lost a race robot=%s token=%s", robot_id, token)
        return None
    logger.info("cycle started robot=%s number=%s", robot.name, number)
    return Claim(cycle.pk, robot.source_url, robot.records, robot.cursor)


@transaction.atomic
def _fail(cycle_id: int, error: str) -> None:
    robot_id = RobotCycle.objects.values_list("robot_id", flat=True).get(pk=cycle_id)
    robot = chain.lock_robot(pk=robot_id)
    cycle = RobotCycle.objects.get(pk=cycle_id)
    if cycle.finished_at is None:
        chain.finish_cycle(robot, cycle, RobotCycle.Status.FAILED, error)


def _fan_out(cycle_id: int, items: list[Any]) -> None:
    with transaction.atomic():
        robot_id = RobotCycle.objects.values_list("robot_id", flat=True).get(pk=cycle_id)
        robot = chain.lock_robot(pk=robot_id)
        cycle = RobotCycle.objects.get(pk=cycle_id)
        if cycle.finished_at is not None:
            logger.warning("fan-out skipped, cycle already ended robot=%s number=%s", robot.name, cycle.number)
            return
        batch = _split(robot, items)
        created = ProcessedRecord.objects.bulk_create(
            [ProcessedRecord(robot=robot, cycle=cycle, source_id=sid, payload=p) for sid, p in batch.new.items()],
            batch_size=IN_CHUNK,
        )
        cycle.fetched = len(items)
        cycle.dispatched = len(created)
        cycle.failed = batch.failed
        cycle.duplicates = batch.duplicates
        cycle.fanned_out_at = timezone.now()
        cycle.save(update_fields=["fetched", "dispatched", "failed", "duplicates", "fanned_out_at"])
        if batch.highest and _id_key(batch.highest) > _id_key(robot.cursor):
            robot.cursor = batch.highest
            robot.save(update_fields=["cursor", "updated_at"])
        jobs = [(record.pk, record.job_id) for record in created]
        queueing.after_commit(partial(queueing.enqueue_records, jobs), f"enqueue {len(jobs)} records")
        if not created:
            chain.finish_cycle(robot, cycle, RobotCycle.Status.FINISHED)
    logger.info("cycle fanned out robot=%s number=%s dispatched=%s", robot.name, cycle.number, len(jobs))


def _split(robot: Robot, items: list[Any]) -> Batch:
    batch = Batch(new={})
    for item in items:
        source_id = _source_id(item)
        if source_id is None:
            batch.failed += 1
            continue
        if _id_key(source_id) > _id_key(batch.highest):
            batch.highest = source_id  # also past unstorable items, so the source does not send them again
        if not _storable(item):
            batch.failed += 1
        elif source_id in batch.new:
            batch.duplicates += 1
        else:
            batch.new[source_id] = item
    seen = _already_processed(robot, list(batch.new))
    for source_id in seen:
        del batch.new[source_id]
    batch.duplicates += len(seen)
    return batch


def _already_processed(robot: Robot, source_ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for start in range(0, len(source_ids), IN_CHUNK):
        chunk = source_ids[start : start + IN_CHUNK]
        seen.update(
            ProcessedRecord.objects.filter(robot=robot, source_id__in=chunk).values_list("source_id", flat=True)
        )
    return seen


def _source_id(item: Any) -> str | None:
    """Return the item's id as text, or None when it has no usable id (the item then counts as failed)."""
    if not isinstance(item, dict):
        return None
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= ID_MAX_LENGTH else None


def _storable(item: Any) -> bool:
    """Refuse what a database would reject (NaN/Infinity; NUL in PostgreSQL's jsonb), so one bad item cannot
    fail the whole batch again and again."""
    try:
        text = json.dumps(item, allow_nan=False)
    except ValueError:
        return False
    return "\\u0000" not in text


def _id_key(source_id: str) -> tuple[int, int, str]:
    """Order ids numerically when they are integers, otherwise as text after every integer."""
    if source_id.lstrip("-").isdigit():
        return (1, int(source_id), "")
    return (2 if source_id else 0, 0, source_id)
