"""A reused PostgreSQL connection is health-checked only when its socket says something happened."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.core.signals import request_finished, request_started
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from asyncportal import workers
from asyncportal.dbhealth import QuietConnectionMiddleware

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="Django's health check round trip is PostgreSQL's"),
]


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return int(pid)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The answers of Django's health check (``is_usable``), one per check it ran, on a fresh connection."""
    connection.close()  # whatever an earlier test left (errors_occurred forces a check) is not this test's
    answers: list[bool] = []
    is_usable = connection.is_usable

    def counted() -> bool:
        answers.append(is_usable())
        return answers[-1]

    monkeypatch.setattr(connection, "is_usable", counted)
    return answers


def test_a_quiet_connection_starts_a_job_and_a_request_without_a_health_check(checks: list[bool]) -> None:
    pid = backend_pid()
    workers.close_old_connections()  # what the records worker does around every job
    assert backend_pid() == pid
    request_finished.send(sender=None)
    request_started.send(sender=None, environ={})
    middleware = QuietConnectionMiddleware(lambda request: HttpResponse(str(backend_pid())))
    assert middleware(RequestFactory().get("/")).content == str(pid).encode()
    assert checks == []


def test_a_connection_the_server_ended_is_checked_and_replaced_before_the_next_job(checks: list[bool]) -> None:
    pid = backend_pid()
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The server says so on the socket before closing it; wait (bounded) until it has arrived.
    poller = select.poll()
    poller.register(connection.connection.fileno(), select.POLLIN)
    deadline = time.monotonic() + 10
    while not poller.poll(10):
        assert time.monotonic() < deadline, "the terminated backend never signalled its socket"
    workers.close_old_connections()
    assert backend_pid() != pid, "the next job's first query runs on a new connection, without an error"
    assert checks == [False]
