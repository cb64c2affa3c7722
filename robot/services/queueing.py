"""The Redis side of the robot: enqueue and discard jobs, read their status. Called only after commit.

Every function here may raise ``redis.RedisError``; callers that run after commit go through ``after_commit``,
which logs and swallows it, because the database (chain token, record status) stays the source of truth and
the sweeper repairs whatever Redis missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis import RedisError
from rq import Retry
from rq.job import Job, JobStatus
from rq.queue import Queue

from asyncportal import queues

logger = logging.getLogger(__name__)

CYCLE_FUNC = "robot.jobs.run_cycle"
RECORD_FUNC = "robot.jobs.process_record"
RETRY_BACKOFF = [1, 5, 15]  # seconds before the 1st, 2nd, 3rd… retry of a record (last value repeats)
RESULT_TTL = 300
FAILURE_TTL = 7 * 24 * 3600


def after_commit(action: Callable[[], object], what: str) -> None:
    """Run ``action`` once the current transaction commits; a Redis failure is logged, not raised."""

    def run() -> None:
        try:
            action()
        except RedisError as exc:
            logger.warning("redis unavailable, %s deferred to the sweeper: %s", what, exc)

    transaction.on_commit(run)


def enqueue_cycle(robot_id: int, token: str, run_at: datetime, lead: float = 0.0) -> None:
    """Put the cycle job ``token`` on the robot queue now, or schedule it ``lead`` seconds before ``run_at``.

    RQ's scheduler works in whole seconds and polls once a second, so a job scheduled for ``run_at`` starts up
    to two seconds late or one early. Scheduled a second early, it is always waiting on time; it then sleeps
    until the robot's ``next_run_at`` (see ``cycle._wait_until_due``), so cycles start on the millisecond.
    """
    queue = queues.get_queue(queues.ROBOT)
    options = {"job_id": token, "result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
    enqueue_at = run_at - timedelta(seconds=lead)
    if enqueue_at <= timezone.now():
        queue.enqueue_call(CYCLE_FUNC, args=[robot_id, token], **options)  # type: ignore[arg-type]
    else:
        queue.enqueue_at(enqueue_at, CYCLE_FUNC, robot_id, token, **options)


def discard_job(queue_name: str, job_id: str) -> None:
    """Remove a job that has not started yet from the scheduled registry and the queue, and delete it."""
    queue = queues.get_queue(queue_name)
    queue.scheduled_job_registry.remove(job_id)
    job = queue.fetch_job(job_id)
    if job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.SCHEDULED):
        job.delete()


def enqueue_records(jobs: Iterable[tuple[int, str]]) -> int:
    """Enqueue ``(record_id, job_id)`` pairs on the records queue in one pipelined round trip."""
    queue = queues.get_queue(queues.RECORDS)
    retries = settings.ROBOT_RECORD_RETRIES
    retry = Retry(max=retries, interval=RETRY_BACKOFF[:retries]) if retries > 0 else None
    datas = [
        Queue.prepare_data(
            RECORD_FUNC,
            args=[record_id],
            job_id=job_id,
            retry=retry,
            result_ttl=RESULT_TTL,
            failure_ttl=FAILURE_TTL,
        )
        for record_id, job_id in jobs
    ]
    if datas:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
    return len(datas)


def delete_record_jobs(job_ids: list[str]) -> None:
    """Delete record jobs that must not run (workers skip queued ids whose job is gone)."""
    if not job_ids:
        return
    queue = queues.get_queue(queues.RECORDS)
    with queue.connection.pipeline() as pipe:
        for start in range(0, len(job_ids), 1000):
            chunk = job_ids[start : start + 1000]
            pipe.zrem(queue.scheduled_job_registry.key, *chunk)
            pipe.delete(*(Job.key_for(job_id) for job_id in chunk))
        pipe.execute()


def job_statuses(job_ids: list[str]) -> dict[str, str | None]:
    """Return each job's RQ status (None when Redis does not know it), in one pipelined round trip."""
    connection = queues.get_connection()
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "status")
        raw = pipe.execute()
    return {job_id: (value.decode() if value else None) for job_id, value in zip(job_ids, raw, strict=True)}


def cleanup_started() -> None:
    """Let RQ retry or fail jobs whose worker vanished (their started-registry entry expired)."""
    for name in (queues.ROBOT, queues.RECORDS):
        queue = queues.get_queue(name)
        queue.started_job_registry.cleanup()
