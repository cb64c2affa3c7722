"""Jobs for tests/test_workers.py; worker subprocesses import them by path (``tests.worker_jobs.…``)."""

from __future__ import annotations

import os
import time

from django.db import connection
from rq import get_current_job

from asyncportal.workers import stop_requested


def whoami() -> dict[str, object]:
    """Return which process and which RQ worker ran the job."""
    job = get_current_job()
    assert job is not None
    return {"pid": os.getpid(), "worker": job.worker_name}


def database_connection() -> int:
    """Query the database; return the identity of the driver connection the query went through."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return id(connection.connection)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def block(seconds: float = 60.0) -> str:
    """Publish the pid in the job's meta, then run long enough to be killed."""
    _publish_pid()
    time.sleep(seconds)
    return "not killed"


def wait_for_stop(limit: float = 20.0) -> str:
    """Loop like a chunked job does: until the worker reports a requested stop (or ``limit`` passes)."""
    _publish_pid()
    deadline = time.monotonic() + limit
    while not stop_requested():
        if time.monotonic() > deadline:
            return "no stop request"
        time.sleep(0.01)
    return "stop requested"


def _publish_pid() -> None:
    job = get_current_job()
    assert job is not None
    job.meta["pid"] = os.getpid()
    job.save_meta()  # type: ignore[no-untyped-call]
