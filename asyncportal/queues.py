"""The one queue layer: connections, queues, after-commit enqueueing and job-status lookup.

Apps keep their own job paths; this module imports no app. Names and the serializer path live in
``asyncportal.queue_names`` (settings import them before django_rq can be imported) and are re-exported here.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from redis import ConnectionPool, Redis, RedisError
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from asyncportal import breaker
from asyncportal.queue_names import ALL, RECORDS, REGISTRATIONS, ROBOT, SERIALIZER

__all__ = [
    "ALL",
    "RECORDS",
    "REGISTRATIONS",
    "ROBOT",
    "SERIALIZER",
    "after_commit",
    "enqueue",
    "failed_jobs_prune",
    "get_connection",
    "get_queue",
    "job_started",
    "job_statuses",
    "stranded",
]

logger = logging.getLogger(__name__)

FAILED_BATCH = 500
# Where ``stranded`` remembers when it first saw a job in a queue's intermediate list.
SEEN_KEY = "asyncportal:intermediate-seen:"


@functools.cache
def _client(url: str, deadline: float | None) -> Redis:
    # Keyed by URL so override_settings in tests gets its own pool; redis-py resets a pool after fork.
    if deadline is None:
        return Redis.from_url(url)
    # No retries: redis-py's default three retries would multiply the deadline a hung Redis costs.
    pool = ConnectionPool.from_url(url)
    # After from_url, because timeouts in the URL's query would win over keyword arguments.
    pool.connection_kwargs.update(
        socket_timeout=deadline, socket_connect_timeout=deadline, retry=Retry(backoff=NoBackoff(), retries=0)
    )
    # And no wait at all for a while after a failure, so a hung Redis does not cost every request its deadline.
    pool.connection_class = breaker.guarded(pool.connection_class)
    pool.connection_kwargs["breaker"] = breaker.Breaker()
    return Redis(connection_pool=pool)


def get_connection(*, deadline: float | None = None) -> Redis:
    """Return this process's pooled Redis client; ``deadline`` caps each call (seconds) with no retries.

    With a deadline, the client also fails at once for a moment after a failure (``asyncportal.breaker``).
    """
    config: dict[str, Any] = settings.RQ_QUEUES[REGISTRATIONS]
    url: str = config["URL"]
    return _client(url, deadline)


def get_queue(name: str, *, deadline: float | None = None) -> Queue:
    """Return queue ``name`` with the JSON serializer on the pooled connection (see ``get_connection``)."""
    config: dict[str, Any] = settings.RQ_QUEUES[name]
    return Queue(
        name,
        connection=_client(config["URL"], deadline),
        serializer=SERIALIZER,
        default_timeout=config.get("DEFAULT_TIMEOUT"),
    )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector for one bounded bulk step, such as enqueueing thousands of jobs.

    Such a step allocates hundreds of thousands of short-lived objects, so the collector runs hundreds of times
    and its full passes walk every live object (Django, the fetched batch): measured at 15 % of a 10,000-record
    fan-out. Reference counting still frees everything meanwhile; only cycles wait for the next pass. Nested or
    concurrent pauses leave the collector on once the last one that found it on has ended.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def enqueue(queue: Queue, func: str, **options: Any) -> None:
    """Enqueue a ``func`` job on ``queue`` (``options`` as ``Queue.enqueue_call`` takes them) in one round trip.

    Without a pipeline RQ makes two: one to register the queue, one to store and push the job.
    """
    with queue.connection.pipeline() as pipe:
        queue.enqueue_call(func, pipeline=pipe, **options)
        pipe.execute()


def after_commit(action: Callable[[], object], what: str) -> None:
    """Run ``action`` once the current transaction commits; log and swallow whatever it raises.

    The database is the source of truth and the sweeper repairs what Redis missed, so a failed enqueue must
    neither fail the request that committed nor skip the other on-commit callbacks.
    """

    def run() -> None:
        try:
            action()
        except RedisError as exc:
            logger.warning("redis unavailable, %s deferred to the sweeper: %r", what, exc)
        except Exception:
            logger.exception("after-commit action failed, %s deferred to the sweeper", what)

    transaction.on_commit(run)


def job_statuses(job_ids: Sequence[str]) -> dict[str, str | None]:
    """Return each job's RQ status (None when Redis does not know it) in one pipelined round trip."""
    with get_connection().pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "status")
        raw = pipe.execute()
    return {job_id: (value.decode() if value else None) for job_id, value in zip(job_ids, raw, strict=True)}


def stranded(queue_name: str, *, older_than: float) -> set[str]:
    """Return job ids stuck in RQ's intermediate list: dequeued by a worker that died before starting them.

    RQ itself only looks there in a worker's maintenance pass (minutes apart); a job seen there by two sweeps
    ``older_than`` seconds apart is stranded. It is removed from the list; the caller re-dispatches its work.
    """
    queue = get_queue(queue_name)
    connection = queue.connection
    found: set[str] = set()
    now = time.time()
    raw_ids: list[Any] = connection.lrange(queue.intermediate_queue_key, 0, -1)
    for raw in raw_ids:
        job_id = raw.decode()
        seen_key = SEEN_KEY + job_id
        if connection.set(seen_key, now, nx=True, ex=3600):
            continue
        first_seen = float(connection.get(seen_key) or now)
        if now - first_seen >= older_than:
            connection.lrem(queue.intermediate_queue_key, 0, job_id)
            connection.delete(seen_key)
            found.add(job_id)
    return found


def job_started(job_ids: Sequence[str]) -> dict[str, datetime | None]:
    """Return when each job started, as RQ wrote it (None when not started or unknown), in one round trip."""
    with get_connection().pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(Job.key_for(job_id), "started_at")
        raw = pipe.execute()
    return {job_id: _rq_time(value) for job_id, value in zip(job_ids, raw, strict=True)}


def _rq_time(value: bytes | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.decode().replace("Z", "+00:00"))


def failed_jobs_prune(*, dry_run: bool = False, now: datetime | None = None) -> dict[str, int]:
    """Delete jobs that failed more than ``RQ_FAILED_JOB_RETENTION_DAYS`` ago from every queue's failed registry.

    The job's hash and its results go too: a failure text can quote an address. 0 keeps them (up to RQ's own
    ``failure_ttl``).
    """
    days: int = settings.RQ_FAILED_JOB_RETENTION_DAYS
    if days <= 0:
        return {"failed jobs": 0}
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    total = 0
    for name in settings.RQ_QUEUES:
        registry = get_queue(name).failed_job_registry
        job_ids = registry.get_job_ids(cleanup=not dry_run)
        for start in range(0, len(job_ids), FAILED_BATCH):
            old = _failed_before(job_ids[start : start + FAILED_BATCH], cutoff)
            total += len(old)
            if not dry_run:
                for job_id in old:
                    _delete_failed(registry, job_id)
    if total and not dry_run:
        logger.info("failed jobs pruned count=%s", total)
    return {"failed jobs": total}


def _failed_before(job_ids: list[str], cutoff: datetime) -> list[str]:
    """Return the jobs that ended before ``cutoff``; one whose hash is gone is a leftover, old by definition."""
    with get_connection().pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            # ended_at is missing on a job RQ failed for its dead worker; the next latest time it wrote stands in.
            pipe.hmget(Job.key_for(job_id), ["ended_at", "started_at", "enqueued_at", "created_at"])
        raw = pipe.execute()
    old: list[str] = []
    for job_id, times in zip(job_ids, raw, strict=True):
        when = next((moment for moment in map(_rq_time, times) if moment is not None), None)
        if when is None or when < cutoff:
            old.append(job_id)
    return old


def _delete_failed(registry: FailedJobRegistry, job_id: str) -> None:
    try:
        registry.remove(job_id, delete_job=True)
    except NoSuchJobError:
        registry.remove(job_id)
    registry.connection.delete(Result.get_key(job_id))  # type: ignore[no-untyped-call]
