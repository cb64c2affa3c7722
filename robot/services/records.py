"""Delivering records: fenced claims, a lease per delivery, and outcomes written on the record row only.

A record job carries ``(record_id, dispatch)`` pairs. A job acts on a record only while the record is queued
with that dispatch number; the sweeper bumps the number whenever it re-dispatches, so a late or duplicated job
can do nothing. Claiming and finishing are conditional UPDATEs (never read-then-write), no per-record work
touches the robot or cycle row, and only a job that sees its cycle complete takes the robot lock to end it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone
from redis import RedisError

from robot import clients
from robot.models import ProcessedRecord, RobotCycle
from robot.services import chain, delivery, queueing, record_sql

logger = logging.getLogger(__name__)

LEASE_MARGIN = 5.0  # seconds between a delivery's deadline and the end of its lease
RENEW_EVERY = 5.0  # how often a running job renews its hold on the records it has not claimed yet
Status = ProcessedRecord.Status
Pair = tuple[int, int]


def idempotency_key(robot_name: str, source_id: str) -> str:
    return f"{robot_name}:{source_id}"


def lease_seconds() -> float:
    """How long a claim owns its record: the total POST deadline plus a margin for the database write."""
    return settings.ROBOT_POST_TIMEOUT + LEASE_MARGIN


def chunk_budget() -> float:
    """Seconds a record job may keep claiming records: it must end well before RQ's job timeout kills it."""
    return max(settings.RQ_JOB_TIMEOUT - lease_seconds() - LEASE_MARGIN, lease_seconds())


@dataclass
class ChunkResult:
    done: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    handed_back: int = 0
    cycles: set[int | None] = field(default_factory=set)  # None: a record whose cycle was pruned

    def as_dict(self) -> dict[str, int]:
        keys = ("done", "failed", "retried", "skipped", "handed_back")
        return {key: getattr(self, key) for key in keys}


def records_process(*, pairs: Sequence[Pair], stop_requested: Callable[[], bool] = lambda: False) -> ChunkResult:
    """Deliver the records of one job; each gets its own claim, outcome and retries.

    Stops taking records when the job's time budget runs out or the worker is asked to stop, and hands the
    rest back as a new job.
    """
    result = ChunkResult()
    _deliver_each([{"pk": pk, "dispatch": dispatch} for pk, dispatch in pairs], result, stop_requested)
    for cycle_id in result.cycles:
        if cycle_id is not None:
            settle_if_complete(cycle_id)
    return result


def _fenced(row: dict[str, Any], status: str = Status.QUEUED) -> Any:
    return ProcessedRecord.objects.filter(pk=row["pk"], status=status, dispatch=row["dispatch"])


def _deliver_each(rows: list[dict[str, Any]], result: ChunkResult, stop_requested: Callable[[], bool]) -> None:
    """Deliver the rows in sub-batches of ``ROBOT_DELIVERY_CONCURRENCY``; stop between sub-batches.

    Each sub-batch's take tells which of its rows are still this job's; nothing is read before it.
    """
    started = renewed = time.monotonic()
    size = delivery.concurrency()
    if len(rows) > size:
        # A robot without a target has nothing to deliver: its records are done in one statement. Others wait
        # for a later sub-batch, held (reserved) meanwhile.
        rows = _complete_without_target(rows, result)
        _reserve(rows)
    for index in range(0, len(rows), size):
        if time.monotonic() - started > chunk_budget() or stop_requested():
            result.handed_back = hand_back(rows[index:])
            result.skipped += len(rows) - index - result.handed_back
            return
        if time.monotonic() - renewed > RENEW_EVERY:
            _reserve(rows[index:])
            renewed = time.monotonic()
        _deliver_batch(rows[index : index + size], result)


def _complete_without_target(rows: list[dict[str, Any]], result: ChunkResult) -> list[dict[str, Any]]:
    """Mark done the records of a robot without a target, one statement per dispatch; return the other rows."""
    now = timezone.now()
    done: set[int] = set()
    for dispatch, ids in _ids_by_dispatch(rows).items():
        for pk, cycle_id in record_sql.complete(ids, dispatch=dispatch, now=now):
            done.add(pk)
            result.cycles.add(cycle_id)
    result.done += len(done)
    return [row for row in rows if row["pk"] not in done]


def _ids_by_dispatch(rows: list[dict[str, Any]]) -> dict[int, list[int]]:
    return {dispatch: [row["pk"] for row in group] for dispatch, group in delivery.by_dispatch(rows).items()}


def _reserve(rows: list[dict[str, Any]]) -> None:
    # Outlasts one whole delivery plus the renewal period, so the hold never lapses while the job works.
    until = timezone.now() + timedelta(seconds=lease_seconds() + RENEW_EVERY)
    for dispatch, ids in _ids_by_dispatch(rows).items():
        ProcessedRecord.objects.filter(pk__in=ids, status=Status.QUEUED, dispatch=dispatch).update(lease_until=until)


def _deliver_batch(rows: list[dict[str, Any]], result: ChunkResult) -> None:
    """Take, POST (concurrently) and record a sub-batch, counting each row's outcome in ``result``."""
    taken = delivery.take(rows, now=timezone.now(), lease=lease_seconds())
    result.skipped += len(rows) - len(taken)
    result.cycles.update(row["cycle_id"] for row in taken)
    claimed = [row for row in taken if row["status"] == Status.PROCESSING]
    result.done += len(taken) - len(claimed)  # done by the take itself: their robot has no target
    if not claimed:
        return
    answers = delivery.post_all(claimed, claimed[0]["robot"], idempotency_key)
    delivered = [row for row, answer in zip(claimed, answers, strict=True) if _is_ok(row, answer)]
    finished = delivery.finish_done(delivered, now=timezone.now()) if delivered else set()
    if len(finished) < len(delivered):
        logger.warning("record outcomes dropped, a newer dispatch owns them records=%s", len(delivered) - len(finished))
    result.done += len(finished)
    result.skipped += len(delivered) - len(finished)
    for row, answer in zip(claimed, answers, strict=True):
        if not _is_ok(row, answer):
            outcome = _record_failure(row, answer)
            setattr(result, outcome, getattr(result, outcome) + 1)


def _is_ok(row: dict[str, Any], answer: delivery.Answer) -> bool:
    if isinstance(answer, DatabaseError):
        raise answer
    return isinstance(answer, clients.PostOutcome) and answer.ok


def _record_failure(row: dict[str, Any], answer: delivery.Answer) -> str:
    """Write one failed delivery's outcome: a retry of its own when transient, else final."""
    if isinstance(answer, Exception):  # one record that raises must not take its neighbours with it
        logger.error("record delivery raised record=%s", row["pk"], exc_info=answer)
        answer = clients.PostOutcome(ok=False, detail=f"{type(answer).__name__}: {answer}")
    attempt = row["attempts"] + 1
    if answer.transient and attempt <= settings.ROBOT_RECORD_RETRIES:
        return "retried" if _retry_later(row, attempt, answer.detail) else "skipped"
    return "failed" if _finish(row, Status.FAILED, f"{answer.detail} (attempt {attempt})") else "skipped"


def _finish(row: dict[str, Any], status: str, error: str = "") -> bool:
    changed = _fenced(row, Status.PROCESSING).update(
        status=status, error=error[:2000], finished_at=timezone.now(), lease_until=None
    )
    if not changed:
        logger.warning("record outcome dropped, a newer dispatch owns it record=%s", row["pk"])
    return bool(changed)


def _retry_later(row: dict[str, Any], attempt: int, detail: str) -> bool:
    """Give the record a new dispatch of its own, due after the backoff for ``attempt``.

    In a cycle stopped now, the record is cancelled instead: the next start delivers it with the others.
    """
    if stopping(row["cycle_id"]):
        return cancel_in_flight(row, f"{detail} (attempt {attempt}; stopped now, delivered by the next start)")
    dispatch = row["dispatch"] + 1
    job_id = queueing.record_job_id(row["pk"], dispatch)
    changed = _fenced(row, Status.PROCESSING).update(
        status=Status.QUEUED,
        dispatch=dispatch,
        job_id=job_id,
        dispatched_at=timezone.now(),
        lease_until=None,
        error=f"{detail} (attempt {attempt}, retrying)"[:2000],
    )
    if not changed:
        return False
    delay = queueing.RETRY_BACKOFF[min(attempt, len(queueing.RETRY_BACKOFF)) - 1]
    try:
        queueing.enqueue_records([(job_id, [(row["pk"], dispatch)])], delay=delay)
    except RedisError as exc:
        logger.warning("record retry not enqueued, left to the sweeper record=%s: %s", row["pk"], exc)
    return True


def stopping(cycle_id: int | None) -> bool:
    """Whether the cycle was stopped now (it holds cancelled records): nothing in it is retried any more."""
    if cycle_id is None:  # its cycle was pruned; only a finished cycle is, so it was not stopped now
        return False
    return ProcessedRecord.objects.filter(cycle_id=cycle_id, status=Status.CANCELLED).exists()


def cancel_in_flight(row: dict[str, Any], error: str, status: str = Status.PROCESSING) -> bool:
    """Cancel a record this dispatch still owns (``status``), fencing its job out."""
    return bool(
        _fenced(row, status).update(
            status=Status.CANCELLED,
            dispatch=F("dispatch") + 1,
            finished_at=timezone.now(),
            lease_until=None,
            error=error[:2000],
        )
    )


def hand_back(rows: list[dict[str, Any]]) -> int:
    """Give records this job has not claimed to a new job (a new dispatch fences this one out)."""
    if not rows:
        return 0
    first = rows[0]
    dispatch = first["dispatch"] + 1
    job_id = queueing.record_job_id(first["pk"], dispatch)
    ids = [row["pk"] for row in rows]
    with transaction.atomic():
        moved = list(
            ProcessedRecord.objects.select_for_update()
            .filter(pk__in=ids, status=Status.QUEUED, dispatch=first["dispatch"])
            .values_list("pk", flat=True)
        )
        ProcessedRecord.objects.filter(pk__in=moved).update(
            dispatch=dispatch, job_id=job_id, dispatched_at=timezone.now(), lease_until=None
        )
    pairs = [(pk, dispatch) for pk in moved]
    try:
        queueing.enqueue_records([(job_id, pairs)])
    except RedisError as exc:
        logger.warning("handed-back records not enqueued, left to the sweeper job=%s: %s", job_id, exc)
    logger.info("record job handed back records=%s job=%s", len(pairs), job_id)
    return len(pairs)


def settle_if_complete(cycle_id: int) -> bool:
    """End the fanned-out cycle once none of its records is pending; only then take the robot lock."""
    if record_sql.any_pending(cycle_id):
        return False
    robot_id = RobotCycle.objects.values_list("robot_id", flat=True).get(pk=cycle_id)
    with transaction.atomic():
        robot = chain.lock_robot(pk=robot_id)
        return chain.settle_if_complete(robot, cycle_id)
