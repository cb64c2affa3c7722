"""The record path's hand-written statements, on whichever database the tests run (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import record_sql
from tests.robot.support import make_robot

pytestmark = pytest.mark.django_db(transaction=True)
LEASE = timedelta(seconds=15)


def with_records(count: int, *, target_url: str = "http://127.0.0.1:9/in") -> list[ProcessedRecord]:
    robot = make_robot(source_url="http://127.0.0.1:9/feed", target_url=target_url, target_secret="")
    cycle = RobotCycle.objects.create(robot=robot, number=1, started_at=timezone.now())
    return ProcessedRecord.objects.bulk_create(
        ProcessedRecord(robot=robot, cycle=cycle, source_id=str(n), payload={"id": n, "tags": ["a", "é"]})
        for n in range(1, count + 1)
    )


def state(record: ProcessedRecord) -> dict[str, Any]:
    return dict(ProcessedRecord.objects.values().get(pk=record.pk))


def test_take_claims_the_records_of_a_robot_with_a_target_and_returns_them_with_the_robot() -> None:
    (record,) = with_records(1)
    now = timezone.now()
    (row,) = record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE)
    assert (row["pk"], row["status"], row["dispatch"], row["attempts"]) == (record.pk, "processing", 1, 0)
    assert (row["source_id"], row["payload"], row["cycle_id"]) == ("1", {"id": 1, "tags": ["a", "é"]}, record.cycle_id)
    assert row["robot"] == {"name": "r1", "target_url": "http://127.0.0.1:9/in", "target_secret": ""}
    # Stored as the ORM stores datetimes, so the sweeper's lease comparisons see the same value.
    claimed = ProcessedRecord.objects.get(pk=record.pk, lease_until=now + LEASE, started_at=now)
    assert (claimed.status, claimed.attempts, claimed.finished_at) == ("processing", 1, None)


def test_take_completes_the_records_of_a_robot_without_a_target_once() -> None:
    (record,) = with_records(1, target_url="")
    now = timezone.now()
    (row,) = record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE)
    assert (row["status"], row["robot"]["target_url"]) == ("done", "")
    assert record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE) == []
    done = ProcessedRecord.objects.get(pk=record.pk, finished_at=now, started_at=now)
    assert (done.status, done.attempts, done.lease_until) == ("done", 1, None)


def test_take_with_a_stale_dispatch_changes_nothing() -> None:
    (record,) = with_records(1)
    ProcessedRecord.objects.filter(pk=record.pk).update(dispatch=2)  # what a re-dispatch does
    before = state(record)
    now = timezone.now()
    assert record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE) == []
    assert state(record) == before


def test_take_returns_only_the_rows_it_took_when_another_job_took_some() -> None:
    first, second, third = with_records(3)
    earlier = timezone.now() - timedelta(seconds=1)
    record_sql.take([second.pk], dispatch=1, now=earlier, lease_until=earlier + LEASE)  # another job's claim
    taken_by_other = state(second)
    now = timezone.now()
    rows = record_sql.take([first.pk, second.pk, third.pk], dispatch=1, now=now, lease_until=now + LEASE)
    assert sorted(row["pk"] for row in rows) == [first.pk, third.pk]
    assert state(second) == taken_by_other


def test_complete_leaves_the_records_of_a_robot_with_a_target_queued() -> None:
    (record,) = with_records(1)
    before = state(record)
    assert record_sql.complete([record.pk], dispatch=1, now=timezone.now()) == []
    assert state(record) == before


def test_complete_marks_done_only_the_records_still_queued_under_the_dispatch() -> None:
    first, second = with_records(2, target_url="")
    ProcessedRecord.objects.filter(pk=second.pk).update(dispatch=2)
    now = timezone.now()
    assert record_sql.complete([first.pk, second.pk], dispatch=1, now=now) == [(first.pk, first.cycle_id)]
    assert (state(first)["status"], state(first)["attempts"], state(second)["status"]) == ("done", 1, "queued")


def test_finish_done_needs_the_record_processing_under_the_same_dispatch() -> None:
    first, second, third = with_records(3)
    now = timezone.now()
    record_sql.take([first.pk, second.pk], dispatch=1, now=now, lease_until=now + LEASE)
    ProcessedRecord.objects.filter(pk=second.pk).update(status="queued", dispatch=2)  # its lease lapsed
    assert record_sql.finish_done([first.pk, second.pk, third.pk], dispatch=1, now=now) == {first.pk}
    assert [state(r)["status"] for r in (first, second, third)] == ["done", "queued", "queued"]
    assert (state(first)["error"], state(first)["lease_until"]) == ("", None)


def test_any_pending_sees_queued_and_processing_records_of_its_cycle_only() -> None:
    first, second = with_records(2, target_url="")
    cycle = RobotCycle.objects.get()
    now = timezone.now()
    other = RobotCycle.objects.create(robot=Robot.objects.get(), number=2, started_at=now, finished_at=now)
    record_sql.take([first.pk], dispatch=1, now=now, lease_until=now + LEASE)
    assert record_sql.any_pending(cycle.pk)
    record_sql.take([second.pk], dispatch=1, now=now, lease_until=now + LEASE)
    assert not record_sql.any_pending(cycle.pk)
    assert not record_sql.any_pending(other.pk)


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="synchronous_commit is PostgreSQL's")


def sent(action: Callable[[], object]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        action()
    return [query["sql"] for query in queries.captured_queries]


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        (value,) = cursor.fetchone()
    return str(value)


@postgresql_only
def test_record_writes_in_autocommit_skip_the_wal_flush_for_their_own_transaction_only() -> None:
    first, second = with_records(2)
    now = timezone.now()
    (take,) = sent(lambda: record_sql.take([first.pk], dispatch=1, now=now, lease_until=now + LEASE))
    (finish,) = sent(lambda: record_sql.finish_done([first.pk], dispatch=1, now=now))
    for write in (take, finish):
        # One statement (so it can be prepared) that sets the flush off for its own transaction.
        assert "set_config('synchronous_commit', 'off', true)" in write and ";" not in write, write
    # The rows the write took still come back, and the session keeps the server's setting.
    assert state(first)["status"] == "done"
    assert synchronous_commit() == "on"
    cycle = RobotCycle.objects.get()
    (pending,) = sent(lambda: record_sql.any_pending(cycle.pk))
    assert "synchronous_commit" not in pending
    with transaction.atomic():
        (inside,) = sent(lambda: record_sql.take([second.pk], dispatch=1, now=now, lease_until=now + LEASE))
    assert "synchronous_commit" not in inside, "a caller's transaction must keep its durability"


@postgresql_only
def test_record_statements_become_prepared_statements_on_a_connection_that_repeats_them() -> None:
    records = with_records(6)
    now = timezone.now()
    for record in records:
        record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any(statement.startswith('UPDATE "robot_processedrecord"') for statement in statements), statements
    assert {state(record)["status"] for record in records} == {"processing"}


@postgresql_only
@override_settings(ROBOT_RECORD_SYNCHRONOUS_COMMIT=True)
def test_record_writes_wait_for_the_wal_flush_when_configured_to() -> None:
    (record,) = with_records(1)
    now = timezone.now()
    (take,) = sent(lambda: record_sql.take([record.pk], dispatch=1, now=now, lease_until=now + LEASE))
    assert "synchronous_commit" not in take
    assert state(record)["status"] == "processing"
