"""asyncportal.workers.RecyclingSimpleWorker in real worker processes: timeouts, recycling, crashes, shutdown."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from django.db import connection
from rq.job import Job, JobStatus
from rq.queue import Queue

from asyncportal import queues
from asyncportal.workers import RecyclingSimpleWorker, stop_requested
from tests.conftest import StartWorker
from tests.helpers import wait_for

pytestmark = pytest.mark.slow
WORKER_CLASS = "asyncportal.workers.RecyclingSimpleWorker"


@pytest.fixture
def queue() -> Queue:
    return queues.get_queue(queues.RECORDS)


def finished(job: Job) -> Any:
    """Wait until ``job`` has finished and return its result."""
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, timeout=30, message=f"{job.id} finished")
    return job.return_value()


def meta_pid(job: Job) -> int:
    """Wait until a running ``job`` has published its pid."""
    return int(wait_for(lambda: job.get_meta(refresh=True).get("pid") or 0, timeout=30, message="job started"))


def burst_in_process(queue: Queue) -> None:
    """Drain ``queue`` with a burst ``RecyclingSimpleWorker`` here, then give pytest its signal handlers back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        RecyclingSimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_stop_requested_is_false_outside_a_worker() -> None:
    assert stop_requested() is False


def test_a_burst_run_drains_the_queue_in_process_without_recycling(queue: Queue, settings: Any) -> None:
    settings.RQ_WORKER_MAX_JOBS = 2
    jobs = [queue.enqueue("tests.worker_jobs.whoami") for _ in range(3)]
    burst_in_process(queue)
    assert [job.get_status(refresh=True) for job in jobs] == [JobStatus.FINISHED] * 3
    assert {(job.return_value() or {})["pid"] for job in jobs} == {os.getpid()}


@pytest.mark.django_db(transaction=True)
def test_a_healthy_sqlite_connection_is_kept_from_job_to_job(queue: Queue) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("other databases keep connections by CONN_MAX_AGE, as Django does")
    jobs = [queue.enqueue("tests.worker_jobs.database_connection") for _ in range(3)]
    burst_in_process(queue)
    # Closing it would checkpoint the WAL and reopening would rerun the PRAGMAs: both per job, for nothing.
    assert len({job.return_value() for job in jobs}) == 1


def test_a_job_past_its_timeout_fails_and_the_worker_takes_the_next(start_worker: StartWorker, queue: Queue) -> None:
    proc = start_worker(queues.RECORDS, worker_class=WORKER_CLASS)
    slow = queue.enqueue("tests.worker_jobs.sleep", 30, job_timeout=1)
    wait_for(lambda: slow.get_status(refresh=True) == JobStatus.FAILED, timeout=20, message="timed-out job failed")
    result = slow.latest_result()
    assert result is not None and "JobTimeoutException" in (result.exc_string or "")
    assert finished(queue.enqueue("tests.worker_jobs.whoami"))["pid"] == proc.pid


def test_a_standalone_worker_recycles_in_place_after_max_jobs(start_worker: StartWorker, queue: Queue) -> None:
    proc = start_worker(queues.RECORDS, worker_class=WORKER_CLASS, extra_env={"RQ_WORKER_MAX_JOBS": "3"})
    runs = [finished(queue.enqueue("tests.worker_jobs.whoami")) for _ in range(5)]
    assert {run["pid"] for run in runs} == {proc.pid}
    names = [run["worker"] for run in runs]
    assert len(set(names[:3])) == 1 and len(set(names[3:])) == 1 and names[0] != names[3]


def test_a_pool_child_exits_after_max_jobs_and_a_replacement_takes_the_rest(
    start_worker: StartWorker, queue: Queue
) -> None:
    proc = start_worker(queues.RECORDS, pool=1, worker_class=WORKER_CLASS, extra_env={"RQ_WORKER_MAX_JOBS": "3"})
    jobs = [queue.enqueue("tests.worker_jobs.whoami") for _ in range(5)]
    pids = [finished(job)["pid"] for job in jobs]
    assert len(set(pids[:3])) == 1 and len(set(pids[3:])) == 1 and pids[0] != pids[3]
    assert proc.poll() is None


def test_a_pool_replaces_a_child_killed_mid_job(start_worker: StartWorker, queue: Queue) -> None:
    proc = start_worker(queues.RECORDS, pool=1, worker_class=WORKER_CLASS)
    killed = meta_pid(queue.enqueue("tests.worker_jobs.block"))
    os.kill(killed, signal.SIGKILL)
    assert finished(queue.enqueue("tests.worker_jobs.whoami"))["pid"] not in {killed, proc.pid}


@pytest.mark.parametrize("pool", [0, 1], ids=["standalone", "pool"])
def test_sigterm_mid_job_lets_the_job_see_stop_requested_finish_and_the_process_exit_0(
    start_worker: StartWorker, queue: Queue, pool: int
) -> None:
    proc = start_worker(queues.RECORDS, pool=pool, worker_class=WORKER_CLASS)
    job = queue.enqueue("tests.worker_jobs.wait_for_stop")
    meta_pid(job)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == "stop requested"
