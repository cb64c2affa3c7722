"""One cycle: claim it with the chain token, fetch outside any transaction, fan the records out."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from operator import itemgetter
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from asyncportal import queues
from robot import clients
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import chain, queueing, rows

logger = logging.getLogger(__name__)

ID_MAX_LENGTH = 255
FAN_OUT_FAILED = "fan_out_failed"
INTEGER_ID = re.compile(r"-?[0-9]{1,30}")
# One encoder for every item: ``json.dumps`` with any non-default option builds a new one per call.
PAYLOAD_JSON = json.JSONEncoder(allow_nan=False, ensure_ascii=False)


@dataclass(frozen=True)
class Claim:
    cycle_id: int
    source_url: str
    source_secret: str
    limit: int
    after: str


@dataclass
class Batch:
    """A fetched batch split into new records (source id -> payload as JSON text), failures (no usable id)
    and duplicates."""

    new: dict[str, str]
    taken: int = 0
    failed: int = 0
    duplicates: int = 0
    highest: str = ""


def cycle_run(*, robot_id: int, token: str) -> int | None:
    """Run one cycle if ``token`` is the robot's current token; return the cycle id, None for a stale job."""
    claim = _claim(robot_id, token)
    if claim is None:
        return None
    try:
        items = (
            clients.fetch_items(claim.source_url, limit=claim.limit, after=claim.after, secret=claim.source_secret)
            if claim.limit
            else []
        )
    except clients.FetchError as exc:
        logger.warning("fetch failed cycle=%s: %s", claim.cycle_id, exc)
        _fail(claim.cycle_id, str(exc), exc.code)
        return claim.cycle_id
    try:
        with queues.collector_paused():
            _fan_out(claim.cycle_id, items)
    except Exception as exc:  # noqa: BLE001 - whatever the batch did to the database, the chain must go on.
        logger.exception("fan-out failed cycle=%s", claim.cycle_id)
        _fail(claim.cycle_id, f"the records could not be stored: {type(exc).__name__}", FAN_OUT_FAILED)
    return claim.cycle_id


def _claim(robot_id: int, token: str) -> Claim | None:
    try:
        with transaction.atomic():
            robot = chain.lock_robot(pk=robot_id)
            if robot.chain_token != token:
                logger.info("stale cycle job ignored robot=%s token=%s current=%s", robot_id, token, robot.chain_token)
                return None
            if chain.unfinished_cycle(robot) is not None:
                logger.info("cycle job ignored, a cycle is unfinished robot=%s token=%s", robot_id, token)
                return None
            # Retention may have deleted every old cycle; the count of finished ones keeps numbers going up.
            number = max(robot.cycles.aggregate(n=Max("number"))["n"] or 0, robot.cycles_completed) + 1
            cycle = RobotCycle.objects.create(robot=robot, number=number, job_id=token, started_at=timezone.now())
            backlog = _cancelled(robot).count()
    except RobotError:
        logger.info("cycle job for a deleted robot ignored robot=%s", robot_id)
        return None
    except IntegrityError:
        logger.warning("cycle claim lost a race robot=%s token=%s", robot_id, token)
        return None
    logger.info("cycle started robot=%s number=%s", robot.name, number)
    # Records cancelled by a stop-now are delivered first and count against ``batch_size``.
    return Claim(cycle.pk, robot.source_url, robot.source_secret, max(robot.batch_size - backlog, 0), robot.cursor)


@transaction.atomic
def _fail(cycle_id: int, error: str, code: str) -> None:
    robot_id = RobotCycle.objects.values_list("robot_id", flat=True).get(pk=cycle_id)
    robot = chain.lock_robot(pk=robot_id)
    cycle = RobotCycle.objects.get(pk=cycle_id)
    if cycle.finished_at is None:
        chain.finish_cycle(robot, cycle, RobotCycle.Status.FAILED, error, code)


def _fan_out(cycle_id: int, items: list[Any]) -> None:
    with transaction.atomic():
        robot_id = RobotCycle.objects.values_list("robot_id", flat=True).get(pk=cycle_id)
        robot = chain.lock_robot(pk=robot_id)
        cycle = RobotCycle.objects.get(pk=cycle_id)
        if cycle.finished_at is not None:
            logger.warning("fan-out skipped, cycle already ended robot=%s number=%s", robot.name, cycle.number)
            return
        adopted = _adopt_cancelled(robot, cycle)
        batch = _split(robot, items, robot.batch_size - len(adopted))
        now = timezone.now()
        jobs = chunks(adopted, robot.chunk_size) + _store_new(robot, cycle, batch, now)
        dispatched = len(adopted) + len(batch.new)
        cycle.fanned_out_at = now
        _count(robot, cycle, batch, dispatched, adopted=len(adopted))
        queues.after_commit(partial(queueing.enqueue_records, jobs), f"enqueue {dispatched} records")
        if not dispatched:
            chain.finish_cycle(robot, cycle, RobotCycle.Status.FINISHED)
    logger.info("cycle fanned out robot=%s number=%s dispatched=%s", robot.name, cycle.number, dispatched)


def _store_new(robot: Robot, cycle: RobotCycle, batch: Batch, now: datetime) -> list[tuple[str, list[tuple[int, int]]]]:
    """Insert the batch's new records, dispatched at ``now``, ``robot.chunk_size`` to a job; return those jobs."""
    size = robot.chunk_size
    queued = [
        (source_id, payload, queueing.chunk_job_id(cycle.pk, index // size))
        for index, (source_id, payload) in enumerate(batch.new.items())
    ]
    ids = rows.insert_queued(robot_id=robot.pk, cycle_id=cycle.pk, rows=queued, now=now)
    first = rows.FIRST_DISPATCH
    return [
        (queued[start][2], [(ids[source_id], first) for source_id, _, _ in queued[start : start + size]])
        for start in range(0, len(queued), size)
    ]


def _count(robot: Robot, cycle: RobotCycle, batch: Batch, dispatched: int, *, adopted: int) -> None:
    cycle.fetched = batch.taken
    cycle.dispatched = dispatched
    cycle.failed = batch.failed
    cycle.duplicates = batch.duplicates
    cycle.save(update_fields=["fetched", "dispatched", "failed", "duplicates", "fanned_out_at"])
    if batch.highest and _id_key(batch.highest) > _id_key(robot.cursor):
        robot.cursor = batch.highest
        robot.save(update_fields=["cursor", "updated_at"])
    if adopted:
        # They were counted as cancelled when their cycle ended; they are counted again by this one.
        Robot.objects.filter(pk=robot.pk).update(total_cancelled=F("total_cancelled") - adopted)


def _cancelled(robot: Robot) -> QuerySet[ProcessedRecord]:
    return ProcessedRecord.objects.filter(robot=robot, status=ProcessedRecord.Status.CANCELLED).order_by("pk")


def _adopt_cancelled(robot: Robot, cycle: RobotCycle) -> list[ProcessedRecord]:
    """Move up to ``robot.batch_size`` records cancelled by a stop-now into ``cycle``, queued under new dispatches."""
    adopted = list(_cancelled(robot).only("pk", "dispatch")[: robot.batch_size])
    requeue_into(cycle, adopted, robot.chunk_size)
    return adopted


def requeue_into(cycle: RobotCycle, records: list[ProcessedRecord], chunk_size: int, **reset: Any) -> None:
    """Move final records into ``cycle``, queued again under new dispatches (fencing out any old job), one new
    job id per ``chunk_size`` records; ``records`` get their new dispatch and job id. Under the robot lock."""
    now = timezone.now()
    for start in range(0, len(records), chunk_size):
        part = records[start : start + chunk_size]
        job_id = queueing.record_job_id(part[0].pk, part[0].dispatch + 1)
        for record in part:
            record.dispatch += 1
            record.job_id = job_id
        ProcessedRecord.objects.filter(pk__in=[record.pk for record in part]).update(
            cycle=cycle,
            status=ProcessedRecord.Status.QUEUED,
            dispatch=F("dispatch") + 1,
            job_id=job_id,
            dispatched_at=now,
            finished_at=None,
            lease_until=None,
            error="",
            **reset,
        )


def chunks(records: list[ProcessedRecord], size: int) -> list[tuple[str, list[tuple[int, int]]]]:
    return [
        (records[start].job_id, [(record.pk, record.dispatch) for record in records[start : start + size]])
        for start in range(0, len(records), size)
    ]


def _split(robot: Robot, items: list[Any], limit: int) -> Batch:
    """Take at most ``limit`` items, lowest ids first; refuse unusable ones without failing the rest."""
    taken = sorted(map(_keyed, items), key=itemgetter(0))[:limit]
    batch = Batch(new={}, taken=len(taken))
    highest = _id_key("")
    for key, source_id, item in taken:
        payload = None if source_id is None else _storable(source_id, item)
        if source_id is None or payload is None:
            batch.failed += 1
            continue
        if key > highest:
            batch.highest, highest = source_id, key
        if source_id in batch.new:
            batch.duplicates += 1
        else:
            batch.new[source_id] = payload
    seen = rows.already_stored(robot_id=robot.pk, source_ids=list(batch.new))
    for source_id in seen:
        del batch.new[source_id]
    batch.duplicates += len(seen)
    return batch


def _keyed(item: Any) -> tuple[tuple[int, int, str], str | None, Any]:
    source_id = _source_id(item)
    return _sort_key(source_id), source_id, item


def _source_id(item: Any) -> str | None:
    """Return the item's id as text, or None when it has no usable id (the item then counts as failed)."""
    if not isinstance(item, dict):
        return None
    value = item.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= ID_MAX_LENGTH else None


def _storable(source_id: str, item: Any) -> str | None:
    """Return the item as the JSON text to store, or None for what a database would reject (NaN/Infinity,
    lone surrogates, NUL in PostgreSQL), so one bad item cannot fail the whole batch again and again."""
    try:
        text = PAYLOAD_JSON.encode(item)
        text.encode("utf-8")
        source_id.encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return text if "\\u0000" not in text and "\x00" not in source_id else None


def _sort_key(source_id: str | None) -> tuple[int, int, str]:
    return (3, 0, "") if source_id is None else _id_key(source_id)


def _id_key(source_id: str) -> tuple[int, int, str]:
    """Order ids numerically when they are ASCII integers, otherwise as text after every integer."""
    if INTEGER_ID.fullmatch(source_id):
        return (1, int(source_id), "")
    return (2 if source_id else 0, 0, source_id)
