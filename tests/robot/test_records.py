"""Delivering records in-process: fenced claims, one outcome per record inside a chunk, retries on their own."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rq.queue import Queue

from asyncportal.queue_names import SERIALIZER
from robot import clients, services
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import queueing, records
from tests.robot.support import HttpStub, IdempotentTarget, Reply, due_tokens, ended, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)
WRITTEN = re.compile(r'\s*(?:UPDATE|INSERT INTO|DELETE FROM)\s+"?(\w+)', re.IGNORECASE)


def fan_out(stub: HttpStub, target: HttpStub | None, ids: list[int], **values: Any) -> Robot:
    stub.handler = lambda seen: Reply(body=[{"id": n, "title": f"t{n}"} for n in ids])
    target_url = f"{target.url}/in" if target else ""
    robot = make_robot(source_url=stub.url, target_url=target_url, **values)
    token = services.robot_start(name=robot.name, actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    return robot


def record(source_id: str) -> ProcessedRecord:
    return ProcessedRecord.objects.get(source_id=source_id)


def pair(source_id: str) -> tuple[int, int]:
    current = record(source_id)
    return (current.pk, current.dispatch)


def deliver(*source_ids: str) -> dict[str, int]:
    return services.records_process(pairs=[pair(source_id) for source_id in source_ids]).as_dict()


def record_jobs(conn: redis.Redis) -> list[list[list[int]]]:
    queue = Queue("records", connection=conn, serializer=SERIALIZER)
    return [job.args[0] for job in queue.get_jobs()]


def test_a_record_is_posted_with_its_idempotency_key_and_done(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [7])
    assert deliver("7")["done"] == 1
    (post,) = target.requests("POST")
    assert (post.path, post.body, post.headers["idempotency-key"]) == ("/in", {"id": 7, "title": "t7"}, "r1:7")
    assert (record("7").status, record("7").attempts, record("7").lease_until) == ("done", 1, None)


def test_fan_out_puts_chunk_size_records_in_each_job(stub: HttpStub, redis_conn: redis.Redis) -> None:
    fan_out(stub, None, list(range(1, 8)), batch_size=7, chunk_size=3)
    jobs = record_jobs(redis_conn)
    assert [len(pairs) for pairs in jobs] == [3, 3, 1]
    assert sorted(pk for pairs in jobs for pk, _ in pairs) == sorted(
        ProcessedRecord.objects.values_list("pk", flat=True)
    )
    assert all(dispatch == 1 for pairs in jobs for _, dispatch in pairs)


def test_without_a_target_a_chunk_is_done_in_one_statement_and_the_cycle_ends(stub: HttpStub) -> None:
    fan_out(stub, None, [1, 2, 3], chunk_size=3)
    assert deliver("1", "2", "3")["done"] == 3
    assert record("1").payload == {"id": 1, "title": "t1"}
    assert RobotCycle.objects.get().status == "finished" and RobotCycle.objects.get().done == 3


def test_a_second_delivery_of_a_final_record_has_no_effect(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2])
    stale = pair("1")
    deliver("1")
    assert services.records_process(pairs=[stale]).as_dict()["skipped"] == 1
    assert len(target.requests("POST")) == 1
    assert record("1").attempts == 1


def test_a_job_with_an_old_dispatch_does_nothing_even_after_the_new_one(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1])
    old = pair("1")
    ProcessedRecord.objects.filter(pk=old[0]).update(dispatch=2)  # what a re-dispatch does
    assert services.records_process(pairs=[old]).as_dict()["skipped"] == 1
    assert target.requests("POST") == [] and record("1").status == "queued"
    assert services.records_process(pairs=[(old[0], 2)]).as_dict()["done"] == 1
    assert services.records_process(pairs=[old]).as_dict()["skipped"] == 1  # the late first job, started last
    assert len(target.requests("POST")) == 1 and record("1").status == "done"


def test_a_5xx_is_retried_on_its_own_job_with_a_new_dispatch(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    target.handler = IdempotentTarget({"r1:1": [503, 200]})
    fan_out(stub, target, [1])
    assert deliver("1")["retried"] == 1
    retried = record("1")
    assert (retried.status, retried.attempts, retried.dispatch) == ("queued", 1, 2)
    assert retried.job_id == queueing.record_job_id(retried.pk, 2) and "503" in retried.error
    scheduled = Queue("records", connection=redis_conn, serializer=SERIALIZER).scheduled_job_registry
    assert scheduled.get_job_ids() == [retried.job_id]
    assert deliver("1")["done"] == 1
    assert (record("1").attempts, record("1").status) == (2, "done")


def test_a_4xx_is_a_final_failure_without_retry(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [422]})
    fan_out(stub, target, [1])
    assert deliver("1")["failed"] == 1
    assert "HTTP 422" in record("1").error and len(target.requests("POST")) == 1
    assert RobotCycle.objects.get().failed == 1


@override_settings(ROBOT_RECORD_RETRIES=1)
def test_attempts_counted_in_the_database_bound_the_retries(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [503]})
    fan_out(stub, target, [1])
    assert deliver("1")["retried"] == 1
    assert deliver("1")["failed"] == 1
    assert (record("1").attempts, record("1").status) == (2, "failed")


@override_settings(ROBOT_POST_TIMEOUT=1)
def test_a_chunk_gives_each_record_its_own_outcome_and_retries_only_the_timed_out_one(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    release = threading.Event()
    script = IdempotentTarget({"r1:2": [404]})

    def handler(seen: Any) -> Reply:
        reply = script(seen)
        if seen.headers.get("idempotency-key") == "r1:3":
            return Reply(wait=release)
        return reply

    target.handler = handler
    fan_out(stub, target, [1, 2, 3, 4], batch_size=4, chunk_size=4)
    try:
        outcome = deliver("1", "2", "3", "4")
    finally:
        release.set()
    assert (outcome["done"], outcome["failed"], outcome["retried"]) == (2, 1, 1)
    assert {r.source_id: r.status for r in ProcessedRecord.objects.all()} == {
        "1": "done",
        "2": "failed",
        "3": "queued",
        "4": "done",
    }
    assert Queue("records", connection=redis_conn, serializer=SERIALIZER).scheduled_job_registry.get_job_ids() == [
        record("3").job_id
    ]
    assert RobotCycle.objects.get().finished_at is None
    deliver("3")
    cycle = RobotCycle.objects.get()
    assert (cycle.status, cycle.done, cycle.failed, cycle.fetched) == ("finished", 3, 1, 4)


def test_a_record_that_raises_fails_alone_and_its_neighbours_are_delivered(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3], chunk_size=3)
    real_post = clients.post_record

    def post(url: str, payload: Any, *, idempotency_key: str, secret: str) -> Any:
        if payload["id"] == 2:
            raise ValueError("unencodable payload")
        return real_post(url, payload, idempotency_key=idempotency_key, secret=secret)

    monkeypatch.setattr(clients, "post_record", post)
    assert deliver("1", "2", "3") == {"done": 2, "failed": 1, "retried": 0, "skipped": 0, "handed_back": 0}
    assert "ValueError: unencodable payload" in record("2").error
    assert RobotCycle.objects.get().status == "finished"


@override_settings(ROBOT_DELIVERY_CONCURRENCY=1)
def test_a_chunk_asked_to_stop_finishes_the_record_in_hand_and_hands_back_the_rest(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2, 3], chunk_size=3)
    asked: list[bool] = []

    def stop_after_first() -> bool:
        asked.append(True)
        return len(asked) > 1

    outcome = services.records_process(pairs=[pair("1"), pair("2"), pair("3")], stop_requested=stop_after_first)
    assert (outcome.done, outcome.handed_back) == (1, 2)
    assert [record(s).dispatch for s in ("1", "2", "3")] == [1, 2, 2]
    handed = [
        job for job in record_jobs(redis_conn) if job != [[record("1").pk, 1], [record("2").pk, 1], [record("3").pk, 1]]
    ]
    assert handed == [[[record("2").pk, 2], [record("3").pk, 2]]]
    assert len(target.requests("POST")) == 1


@override_settings(RQ_JOB_TIMEOUT=20, ROBOT_POST_TIMEOUT=5, ROBOT_DELIVERY_CONCURRENCY=1)
def test_a_chunk_past_its_time_budget_hands_the_rest_back(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2], chunk_size=2)
    assert records.chunk_budget() == 10  # 20 s job timeout - (5 s deadline + 5 s margin) - 5 s
    budgets = iter([100.0, -1.0])  # the second record finds the budget spent
    monkeypatch.setattr(records, "chunk_budget", lambda: next(budgets))
    outcome = deliver("1", "2")
    assert (outcome["done"], outcome["handed_back"]) == (1, 1)


def test_the_cycle_finishes_only_when_every_record_is_final(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    target.handler = IdempotentTarget({"r1:2": [404]})
    robot = fan_out(stub, target, [1, 2, 3], interval=7, chunk_size=1)
    deliver("1")
    deliver("2")
    assert RobotCycle.objects.get().finished_at is None
    assert redis_conn.zcard(queueing.DUE_KEY) == 0
    deliver("3")
    cycle = RobotCycle.objects.get()
    robot.refresh_from_db()
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 2, 1)
    assert robot.next_run_at == ended(cycle) + timedelta(seconds=7)
    assert (robot.total_fetched, robot.total_done, robot.total_failed, robot.cycles_completed) == (3, 2, 1, 1)
    assert due_tokens(redis_conn, robot) == [robot.chain_token]


def test_finishing_a_record_touches_neither_the_robot_nor_the_cycle_row(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    robot = fan_out(stub, target, [1, 2], chunk_size=1)
    robot_before = Robot.objects.values().get(pk=robot.pk)
    cycle_before = RobotCycle.objects.values().get()
    with CaptureWrites() as writes:
        deliver("1")
    assert Robot.objects.values().get(pk=robot.pk) == robot_before
    assert RobotCycle.objects.values().get() == cycle_before
    assert writes.tables() == {"robot_processedrecord"}  # the robot row is only read (for its target)


def test_a_stopped_robot_schedules_nothing_after_its_last_cycle(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = fan_out(stub, None, [1])
    services.robot_stop(name="r1", actor=ACTOR)
    deliver("1")
    robot.refresh_from_db()
    assert RobotCycle.objects.get().status == "finished"
    assert (robot.chain_token, robot.next_run_at) == ("", None)
    assert redis_conn.zcard(queueing.DUE_KEY) == 0


def test_a_job_queued_by_the_previous_release_still_delivers_its_record(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [5])
    from robot import jobs

    legacy_id = f"rec-{record('5').pk}-{record('5').dispatch}"
    assert jobs._legacy_dispatch(legacy_id, record("5").pk) == 1
    assert jobs._legacy_dispatch("something-else", record("5").pk) == 0
    assert services.records_process(pairs=[(record("5").pk, 1)]).done == 1
    assert record("5").status == "done"
    finished_at = record("5").finished_at
    assert finished_at is not None and finished_at <= timezone.now()


class CaptureWrites:
    """Record the UPDATE/INSERT/DELETE statements run on the default connection inside the block."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __enter__(self) -> CaptureWrites:
        self._wrapper = connection.execute_wrapper(self._capture)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)  # type: ignore[arg-type]

    def tables(self) -> set[str]:
        """The tables written: the name after UPDATE, INSERT INTO or DELETE FROM."""
        return {WRITTEN.match(sql).group(1) for sql in self.statements}  # type: ignore[union-attr]

    def _capture(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            self.statements.append(sql)
        return execute(sql, params, many, context)


def test_a_refused_target_fails_its_records_at_once_with_the_reason(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2], chunk_size=2)
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=[], ROBOT_RECORD_RETRIES=3):
        assert deliver("1", "2") == {"done": 0, "failed": 2, "retried": 0, "skipped": 0, "handed_back": 0}
    assert (record("1").status, record("1").attempts) == ("failed", 1)
    assert record("1").error.startswith("target_refused: the target was refused: 127.0.0.1 is loopback;")
    assert target.requests() == []


def test_the_target_secret_is_sent_with_each_record_and_logged_nowhere(
    stub: HttpStub, target: HttpStub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ROBOT_SECRET_SINK", "X-Api-Key: value-of-the-secret")
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2], chunk_size=2, target_secret="ROBOT_SECRET_SINK")
    with caplog.at_level("DEBUG"):
        assert deliver("1", "2")["done"] == 2
    assert [seen.headers["x-api-key"] for seen in target.requests("POST")] == ["value-of-the-secret"] * 2
    assert caplog.records and "value-of-the-secret" not in caplog.text
