"""The portal's RQ worker class: jobs run in the worker process itself, which starts afresh every N jobs.

Used with ``--worker-class asyncportal.workers.RecyclingSimpleWorker`` by the ``registrations`` worker and the
``records`` pool (docs/benchmarks.md, "Worker class", has the measurements behind the choice). Core module: it
imports no app.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from types import FrameType

from django.conf import settings
from django.db import connections
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from rq.queue import Queue
from rq.worker import DequeueStrategy, SimpleWorker
from rq.worker import Worker as RQWorker

from asyncportal.dbhealth import skip_needless_health_checks

# Set by the worker's SIGTERM/SIGINT handler. A signal handler runs in the main thread, where SimpleWorker
# also runs the job, so a plain module global is enough.
_shutdown_requested = False


def stop_requested() -> bool:
    """Return True once this process's worker has been asked to shut down (SIGTERM or SIGINT).

    A long job polls this to stop taking new work and hand the rest back before the platform's grace period
    ends. Always False outside a ``RecyclingSimpleWorker`` process (web, tests, a forking worker's horse).
    """
    return _shutdown_requested


def close_old_connections() -> None:
    """Django's ``close_old_connections``, except that a healthy SQLite connection is kept, and a quiet
    PostgreSQL one is not health-checked again (``asyncportal.dbhealth``).

    SQLite is a file with no server to restart: closing it at ``CONN_MAX_AGE`` (or for every job, where that is
    0) costs a WAL checkpoint and a reopen with its PRAGMAs, measured as more than a one-record job's queries.
    """
    for conn in connections.all(initialized_only=True):
        healthy = conn.connection is not None and not conn.errors_occurred and conn.get_autocommit()
        if conn.vendor == "sqlite" and healthy and not conn.in_atomic_block:
            continue
        conn.close_if_unusable_or_obsolete()
    skip_needless_health_checks()


# RQ doubles its wait between attempts to reach a Redis that has gone, up to 60 s: after a 30 s outage the
# robot chain resumed 30 s after Redis did. A few seconds between attempts costs a PING each, no more.
RECONNECT_WAIT = 5.0


class Worker(RQWorker):
    """RQ's forking worker, trying a Redis that has gone every few seconds (``RQ["WORKER_CLASS"]``: the robot)."""

    max_connection_wait_time = RECONNECT_WAIT


class RecyclingSimpleWorker(SimpleWorker):
    """A ``SimpleWorker`` that recycles after ``RQ_WORKER_MAX_JOBS`` jobs and keeps database hygiene.

    The job timeout stays enforced: ``perform_job`` wraps the job in RQ's SIGALRM death penalty in-process.
    """

    max_connection_wait_time = RECONNECT_WAIT

    _jobs_executed = 0

    def execute_job(self, job: Job, queue: Queue) -> None:
        # A forking worker starts every job without a connection; here connections outlive the job, so drop
        # broken or expired ones around it, as Django does around a request.
        close_old_connections()
        try:
            super().execute_job(job, queue)
        finally:
            self._jobs_executed += 1
            close_old_connections()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        global _shutdown_requested
        _shutdown_requested = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def work(
        self,
        burst: bool = False,
        logging_level: str | None = None,
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
        max_jobs: int | None = None,
        max_idle_time: int | None = None,
        with_scheduler: bool = False,
        dequeue_strategy: DequeueStrategy = DequeueStrategy.DEFAULT,
    ) -> bool:
        """Work as RQ does, stopping after ``max_jobs`` (default ``RQ_WORKER_MAX_JOBS``) jobs to recycle.

        django-rq's ``rqworker-pool`` has no ``--max-jobs``, hence the default from settings. A pool child just
        exits and the pool forks a replacement; a standalone worker replaces itself with ``exec``, because its
        exit would end the container (or ``honcho``) instead.
        """
        # A burst run (tests, one-off drains) ends when the queues are empty; recycling it would leave jobs behind
        # or exec the calling process.
        if max_jobs is None and not burst:
            max_jobs = settings.RQ_WORKER_MAX_JOBS or None
        worked = super().work(
            burst, logging_level, date_format, log_format, max_jobs, max_idle_time, with_scheduler, dequeue_strategy
        )
        recycle = max_jobs is not None and self._jobs_executed >= max_jobs and not _shutdown_requested
        if recycle and not burst and multiprocessing.parent_process() is None:
            self._exec_afresh()
        return bool(worked)

    def _exec_afresh(self) -> None:
        self.log.info("Worker %s: recycling after %d jobs (exec)", self.name, self._jobs_executed)
        connections.close_all()
        sys.stdout.flush()
        sys.stderr.flush()
        # Same PID, so a container keeps its PID 1 and the platform sees no restart.
        os.execv(sys.executable, sys.orig_argv)
