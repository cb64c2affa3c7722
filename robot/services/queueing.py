"""The Redis side of the robot: enqueue and discard jobs, read their status. Called only after commit.

Every function here may raise ``redis.RedisError``; callers that run after commit go through
``asyncportal.queues.after_commit``, which logs and swallows it, because the database (chain token, record
status) stays the source of truth and the sweeper repairs whatever Redis missed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from rq.job import JobStatus
from rq.queue import Queue

from asyncportal import queues

# Re-exported for robot code: the intermediate-list check now lives in the queue layer, shared with registration.
from asyncportal.queues import SEEN_KEY as SEEN_KEY
from asyncportal.queues import stranded as stranded

logger = logging.getLogger(__name__)

CYCLE_FUNC = "robot.jobs.run_cycle"
RECORDS_FUNC = "robot.jobs.process_records"
RETRY_BACKOFF = [1, 5, 15]  # seconds before the 1st, 2nd, 3rd… retry of a record (last value repeats)
RESULT_TTL = 300
FAILURE_TTL = 7 * 24 * 3600
# Cycle due times live in a float-scored sorted set that the sweeper's ticker polls every few milliseconds:
# RQ's scheduler keeps whole-second scores and polls once a second, so a cycle would start up to two
# seconds late (or a second early), and a job sleeping until its time would block every other robot.
DUE_KEY = "asyncportal:robot:due"
TICK_BATCH = 100

Pair = tuple[int, int]


def chunk_job_id(cycle_id: int, index: int) -> str:
    """The id of the fan-out's ``index``-th record job of a cycle (known before the records have ids)."""
    return f"chunk-{cycle_id}-{index}"


def record_job_id(first_record_id: int, dispatch: int) -> str:
    """The id of a later job (retry, re-dispatch, hand-back) led by a record and its new dispatch number."""
    return f"redo-{first_record_id}-{dispatch}"


def schedule_cycle(robot_id: int, token: str, run_at: datetime) -> None:
    """Enqueue the cycle job ``token`` now if due, else leave it to the ticker at ``run_at``."""
    if run_at <= timezone.now():
        _enqueue_cycle(robot_id, token)
    else:
        queues.get_connection().zadd(DUE_KEY, {f"{robot_id}:{token}": run_at.timestamp()})


def discard_cycle(robot_id: int, token: str) -> None:
    """Withdraw a cycle job that has not started: from the ticker's set and from the robot queue."""
    queues.get_connection().zrem(DUE_KEY, f"{robot_id}:{token}")
    discard_job(queues.ROBOT, token)


def tick() -> int:
    """Enqueue every cycle job that is due; several tickers may run, ZREM decides which one enqueues."""
    connection = queues.get_connection()
    due: list[Any] = connection.zrangebyscore(DUE_KEY, "-inf", time.time(), start=0, num=TICK_BATCH)
    enqueued = 0
    for member in due:
        if connection.zrem(DUE_KEY, member):
            robot_id, _, token = member.decode().partition(":")
            _enqueue_cycle(int(robot_id), token)
            enqueued += 1
    return enqueued


def _enqueue_cycle(robot_id: int, token: str) -> None:
    queue = queues.get_queue(queues.ROBOT)
    queue.enqueue_call(CYCLE_FUNC, args=[robot_id, token], job_id=token, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL)


def discard_job(queue_name: str, job_id: str) -> None:
    """Remove a job that has not started yet from the scheduled registry and the queue, and delete it."""
    queue = queues.get_queue(queue_name)
    queue.scheduled_job_registry.remove(job_id)
    job = queue.fetch_job(job_id)
    if job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        job.delete()


def enqueue_records(jobs: Sequence[tuple[str, Sequence[Pair]]], *, delay: int = 0) -> int:
    """Enqueue record jobs ``(job_id, [(record_id, dispatch), …])`` in one pipelined round trip.

    No RQ ``Retry``: each record is retried on its own (``records.record_retry``), never its whole job.
    """
    queue = queues.get_queue(queues.RECORDS)
    if delay:
        for job_id, pairs in jobs:
            queue.enqueue_in(timedelta(seconds=delay), RECORDS_FUNC, [list(pair) for pair in pairs], **_options(job_id))
        return len(jobs)
    with queues.collector_paused():
        # The JSON serializer writes the pairs as lists: no need to build them as lists first.
        datas = [Queue.prepare_data(RECORDS_FUNC, args=[pairs], **_options(job_id)) for job_id, pairs in jobs]
        for start in range(0, len(datas), 1000):
            with queue.connection.pipeline() as pipe:
                queue.enqueue_many(datas[start : start + 1000], pipeline=pipe)
                pipe.execute()
    return len(datas)


def _options(job_id: str) -> dict[str, Any]:
    return {"job_id": job_id, "result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}


def cleanup_started() -> None:
    """Let RQ retry or fail jobs whose worker vanished (their started-registry entry expired)."""
    for name in (queues.ROBOT, queues.RECORDS):
        queue = queues.get_queue(name)
        queue.started_job_registry.cleanup()
