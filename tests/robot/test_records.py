"""Processing records in-process: one effect per record, retries for transient failures, 4xx is final."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.test import override_settings
from rq.queue import Queue

from robot import errors, services
from robot.errors import RobotError
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.robot.support import HttpStub, IdempotentTarget, Reply, ended, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def fan_out(stub: HttpStub, target: HttpStub | None, ids: list[int], **values: Any) -> Robot:
    stub.handler = lambda seen: Reply(body=[{"id": n, "title": f"t{n}"} for n in ids])
    target_url = f"{target.url}/in" if target else ""
    robot = make_robot(source_url=stub.url, target_url=target_url, **values)
    token = services.robot_start(name=robot.name, actor=ACTOR).job_id
    services.cycle_run(robot_id=robot.pk, token=token)
    return robot


def record(source_id: str) -> ProcessedRecord:
    return ProcessedRecord.objects.get(source_id=source_id)


def test_a_record_is_posted_with_its_idempotency_key_and_done(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [7])
    assert services.record_process(record_id=record("7").pk, can_retry=True) == "done"
    (post,) = target.requests("POST")
    assert (post.path, post.body, post.headers["idempotency-key"]) == ("/in", {"id": 7, "title": "t7"}, "r1:7")
    assert (record("7").status, record("7").attempts) == ("done", 1)


def test_without_a_target_a_record_is_stored_and_done(stub: HttpStub) -> None:
    fan_out(stub, None, [1])
    assert services.record_process(record_id=record("1").pk, can_retry=True) == "done"
    assert record("1").payload == {"id": 1, "title": "t1"}


def test_a_second_delivery_of_a_final_record_has_no_effect(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    fan_out(stub, target, [1, 2])
    services.record_process(record_id=record("1").pk, can_retry=True)
    assert services.record_process(record_id=record("1").pk, can_retry=True) == "skipped"
    assert services.record_finish(record_id=record("1").pk, status="failed") is False
    assert len(target.requests("POST")) == 1
    assert RobotCycle.objects.get().done == 1 and record("1").attempts == 1


def test_a_5xx_is_retried_while_retries_remain(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [503, 200]})
    fan_out(stub, target, [1])
    with pytest.raises(RobotError) as retry:
        services.record_process(record_id=record("1").pk, can_retry=True)
    assert retry.value.code == errors.RETRY and "503" in retry.value.message
    assert (record("1").status, record("1").attempts) == ("queued", 1)
    assert services.record_process(record_id=record("1").pk, can_retry=True) == "done"
    assert record("1").attempts == 2


def test_a_4xx_is_a_final_failure_without_retry(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [422]})
    fan_out(stub, target, [1])
    assert services.record_process(record_id=record("1").pk, can_retry=True) == "failed"
    assert "HTTP 422" in record("1").error and len(target.requests("POST")) == 1
    assert RobotCycle.objects.get().failed == 1


def test_a_transient_failure_on_the_last_attempt_is_final(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [500]})
    fan_out(stub, target, [1])
    assert services.record_process(record_id=record("1").pk, can_retry=False) == "failed"
    assert "HTTP 500" in record("1").error


@override_settings(ROBOT_RECORD_RETRIES=1)
def test_attempts_counted_in_the_database_bound_the_retries(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget({"r1:1": [503]})
    fan_out(stub, target, [1])
    with pytest.raises(RobotError):
        services.record_process(record_id=record("1").pk, can_retry=True)
    assert services.record_process(record_id=record("1").pk, can_retry=True) == "failed"
    assert record("1").attempts == 2


def test_the_cycle_finishes_only_when_every_record_is_final(
    stub: HttpStub, target: HttpStub, redis_conn: redis.Redis
) -> None:
    target.handler = IdempotentTarget({"r1:2": [404]})
    robot = fan_out(stub, target, [1, 2, 3], interval=7)
    services.record_process(record_id=record("1").pk, can_retry=True)
    services.record_process(record_id=record("2").pk, can_retry=True)
    assert RobotCycle.objects.get().finished_at is None
    assert Queue("robot", connection=redis_conn).scheduled_job_registry.count == 0
    services.record_process(record_id=record("3").pk, can_retry=True)
    cycle = RobotCycle.objects.get()
    robot.refresh_from_db()
    assert (cycle.status, cycle.done, cycle.failed, cycle.settled) == ("finished", 2, 1, 3)
    assert robot.next_run_at == ended(cycle) + timedelta(seconds=7)
    assert (robot.total_fetched, robot.total_done, robot.total_failed, robot.cycles_completed) == (3, 2, 1, 1)
    assert Queue("robot", connection=redis_conn).scheduled_job_registry.get_job_ids() == [robot.job_id]


def test_a_stopped_robot_schedules_nothing_after_its_last_cycle(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = fan_out(stub, None, [1])
    services.robot_stop(name="r1", actor=ACTOR)
    services.record_process(record_id=record("1").pk, can_retry=True)
    robot.refresh_from_db()
    assert RobotCycle.objects.get().status == "finished"
    assert (robot.job_id, robot.next_run_at) == ("", None)
    assert Queue("robot", connection=redis_conn).scheduled_job_registry.count == 0
