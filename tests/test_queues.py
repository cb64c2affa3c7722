from __future__ import annotations

import gc
import logging
import subprocess
import sys
from typing import Any

import pytest
import redis
from django.test import override_settings
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from asyncportal import queues
from tests.conftest import BASE_DIR
from tests.helpers import queues_at


@pytest.fixture
def silent_redis_with_timeouts(silent_redis: str) -> str:
    """The silent Redis with the URL's own timeouts, as settings write them: they must not override the deadline."""
    return f"{silent_redis}?socket_timeout=5&socket_connect_timeout=3"


def test_queue_names_import_without_django() -> None:
    code = "import sys, asyncportal.queue_names; assert not [m for m in sys.modules if m.startswith('django')]"
    subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, check=True)


def test_get_connection_reuses_one_pooled_client_per_process() -> None:
    assert queues.get_connection() is queues.get_connection()


def test_get_queue_uses_json_and_the_pooled_connection() -> None:
    queue = queues.get_queue(queues.REGISTRATIONS)
    assert queue.connection is queues.get_connection()
    assert queue.serializer is JSONSerializer or isinstance(queue.serializer, JSONSerializer)


def test_get_connection_follows_overridden_settings() -> None:
    default = queues.get_connection()
    with override_settings(RQ_QUEUES=queues_at()):
        assert queues.get_connection() is not default


def test_deadline_turns_a_silent_redis_into_a_timeout_without_retries(silent_redis_with_timeouts: str) -> None:
    with override_settings(RQ_QUEUES=queues_at(silent_redis_with_timeouts)):
        connection = queues.get_connection(deadline=0.05)
        assert connection.get_retry().get_retries() == 0  # type: ignore[union-attr]
        with pytest.raises(redis.TimeoutError):
            connection.ping()


@pytest.mark.django_db
def test_after_commit_runs_the_action_only_once_the_transaction_commits(
    django_capture_on_commit_callbacks: Any,
) -> None:
    ran: list[str] = []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queues.after_commit(lambda: ran.append("done"), "test action")
    assert ran == []
    for callback in callbacks:
        callback()
    assert ran == ["done"]


@pytest.mark.django_db
def test_after_commit_logs_a_redis_error_as_a_warning_and_swallows_it(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise redis.TimeoutError("Timeout reading from socket")

    with django_capture_on_commit_callbacks(execute=True):
        queues.after_commit(fail, "enqueue thing=1")
    [record] = [r for r in caplog.records if r.name == "asyncportal.queues"]
    assert record.levelno == logging.WARNING
    assert "enqueue thing=1 deferred to the sweeper" in record.getMessage()


@pytest.mark.django_db
def test_after_commit_logs_any_other_error_with_its_traceback_and_swallows_it(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def fail() -> None:
        raise ValueError("bug")

    with django_capture_on_commit_callbacks(execute=True):
        queues.after_commit(fail, "enqueue thing=2")
    [record] = [r for r in caplog.records if r.name == "asyncportal.queues"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert "enqueue thing=2" in record.getMessage()


def test_job_statuses_reads_known_jobs_and_none_for_unknown_ones() -> None:
    queue = queues.get_queue(queues.REGISTRATIONS)
    queue.enqueue("registration.jobs.process_registration", args=["x"], job_id="known-job")
    assert queues.job_statuses(["known-job", "unknown-job"]) == {"known-job": "queued", "unknown-job": None}


def test_job_statuses_of_nothing_is_empty() -> None:
    assert queues.job_statuses([]) == {}


def test_collector_paused_holds_off_the_collector_and_turns_it_back_on_even_when_the_step_fails() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), queues.collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the step failed")
    assert gc.isenabled()


def test_a_nested_collector_pause_leaves_the_collector_off_until_the_outer_one_ends() -> None:
    with queues.collector_paused():
        with queues.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_enqueue_stores_a_normal_rq_job_in_one_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = queues.get_queue(queues.REGISTRATIONS)
    queues.enqueue(queue, "tests.worker_jobs.whoami", job_id="warm-up")  # the first enqueue also asks for the version
    trips: list[object] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        trips.append(args)
        send(self, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    queues.enqueue(queue, "tests.worker_jobs.whoami", args=["x"], job_id="one-trip", retry=Retry(max=2, interval=5))
    assert len(trips) == 1
    monkeypatch.undo()
    job = Job.fetch("one-trip", connection=queue.connection, serializer=queue.serializer)
    assert (job.get_status(), job.func_name, job.args) == ("queued", "tests.worker_jobs.whoami", ["x"])
    assert (job.origin, job.retries_left) == (queue.name, 2)
    assert queue.job_ids == ["warm-up", "one-trip"]
    assert queue in Queue.all(connection=queue.connection, serializer=queue.serializer)
