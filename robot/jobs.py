"""RQ job entry points: take primitive ids, call one service. Paths are referenced by ``services.queueing``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from django.db import close_old_connections
from rq import get_current_job

from robot import services

P = ParamSpec("P")
R = TypeVar("R")


def db_hygiene(job: Callable[P, R]) -> Callable[P, R]:
    """Drop broken or expired database connections around a job, as Django does around a request.

    A forking worker starts each job with no connection; a non-forking one (SimpleWorker) would otherwise keep
    a connection that died with a database restart and fail every later job.
    """

    @wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return job(*args, **kwargs)
        finally:
            close_old_connections()

    return run


@db_hygiene
def run_cycle(robot_id: int, token: str) -> int | None:
    """Run one cycle of robot ``robot_id`` if ``token`` is still its chain token."""
    return services.cycle_run(robot_id=robot_id, token=token)


@db_hygiene
def process_record(record_id: int) -> str:
    """Deliver one record; raising lets RQ retry it with backoff while retries remain."""
    job = get_current_job()
    can_retry = bool(job is not None and job.retries_left)
    return services.record_process(record_id=record_id, can_retry=can_retry)
