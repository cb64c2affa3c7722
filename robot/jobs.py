"""RQ job entry points: take primitive ids, call one service. Paths are referenced by ``services.queueing``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from rq import get_current_job

from asyncportal.workers import close_old_connections, stop_requested
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
def process_records(pairs: list[list[int]]) -> dict[str, int]:
    """Deliver the records ``[[record_id, dispatch], …]`` this job was made for; each has its own outcome."""
    fenced = [(int(record_id), int(dispatch)) for record_id, dispatch in pairs]
    return services.records_process(pairs=fenced, stop_requested=stop_requested).as_dict()


@db_hygiene
def process_record(record_id: int) -> dict[str, int]:
    """A record job queued by the release before chunked jobs: its dispatch number is in its job id."""
    job = get_current_job()
    dispatch = _legacy_dispatch(job.id if job is not None else "", record_id)
    return services.records_process(pairs=[(record_id, dispatch)], stop_requested=stop_requested).as_dict()


def _legacy_dispatch(job_id: str, record_id: int) -> int:
    prefix, _, dispatch = job_id.rpartition("-")
    if prefix != f"rec-{record_id}" or not (dispatch.isascii() and dispatch.isdigit()):
        return 0  # matches no record: an unidentifiable job must not act
    return int(dispatch)
