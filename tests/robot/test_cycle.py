"""One cycle, run in-process: claim, fetch, fan-out; every fetch failure ends the cycle and the chain goes on."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import override_settings
from rq.queue import Queue

from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.robot.support import HttpStub, Reply, Seen, chain_jobs, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def start_and_run(robot: Robot) -> RobotCycle:
    token = services.robot_start(name=robot.name, actor=ACTOR).job_id
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert cycle_id is not None
    assert cycle_id is not None
    return RobotCycle.objects.get(pk=cycle_id)


def assert_next_cycle_scheduled(robot: Robot, cycle: RobotCycle, conn: redis.Redis) -> None:
    robot.refresh_from_db()
    assert cycle.finished_at is not None
    assert robot.next_run_at == cycle.finished_at + timedelta(seconds=robot.interval)
    assert chain_jobs(conn, robot) == [robot.job_id] and robot.job_id != cycle.job_id


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=503), "HTTP 503 from source"),
        (Reply(raw=b"<html>"), "not JSON"),
        (Reply(body={"items": [{"id": 1}]}), "wrong shape"),
        (Reply(body=[{"id": n, "pad": "x" * 100} for n in range(20)]), "too large"),
    ],
)
@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_failure_ends_the_cycle_failed_and_the_chain_goes_on(
    stub: HttpStub, redis_conn: redis.Redis, reply: Reply, reason: str
) -> None:
    stub.handler = lambda seen: reply
    robot = make_robot(source_url=stub.url, interval=5)
    cycle = start_and_run(robot)
    assert cycle.status == "failed" and reason in cycle.error
    assert (cycle.fetched, ProcessedRecord.objects.count()) == (0, 0)
    assert_next_cycle_scheduled(robot, cycle, redis_conn)
    robot.refresh_from_db()
    assert reason in robot.last_error and robot.cycles_completed == 1


@override_settings(ROBOT_FETCH_TIMEOUT=1)
def test_a_silent_source_times_out_and_the_chain_goes_on(stub: HttpStub, redis_conn: redis.Redis) -> None:
    release = threading.Event()
    stub.handler = lambda seen: Reply(body=[], wait=release)
    robot = make_robot(source_url=stub.url)
    try:
        cycle = start_and_run(robot)
    finally:
        release.set()
    assert cycle.status == "failed" and "timeout" in cycle.error
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_an_unreachable_source_fails_the_cycle_and_the_chain_goes_on(redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url="http://127.0.0.1:1/feed")
    cycle = start_and_run(robot)
    assert cycle.status == "failed" and "network error" in cycle.error
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_items_without_a_usable_id_count_as_failed(stub: HttpStub) -> None:
    bad: list[Any] = [{"title": "no id"}, {"id": None}, {"id": ""}, {"id": True}, {"id": 1.5}, {"id": {}}, 7, "x"]
    stub.handler = lambda seen: Reply(body=[{"id": 1}, *bad, {"id": "abc"}])
    cycle = start_and_run(make_robot(source_url=stub.url))
    assert (cycle.fetched, cycle.dispatched, cycle.failed, cycle.duplicates) == (10, 2, 8, 0)
    assert sorted(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["1", "abc"]


def test_duplicates_are_counted_and_stored_once(stub: HttpStub, redis_conn: redis.Redis) -> None:
    batches = iter([[{"id": 1}, {"id": 2}, {"id": "2"}], [{"id": 2, "title": "changed"}, {"id": 3}]])
    stub.handler = lambda seen: Reply(body=next(batches))
    robot = make_robot(source_url=stub.url)
    first = start_and_run(robot)
    for record in ProcessedRecord.objects.all():
        services.record_finish(record_id=record.pk, status="done")
    robot.refresh_from_db()
    second_id = services.cycle_run(robot_id=robot.pk, token=robot.job_id)
    assert second_id is not None
    second = RobotCycle.objects.get(pk=second_id)
    assert (first.fetched, first.dispatched, first.duplicates) == (3, 2, 1)
    assert (second.fetched, second.dispatched, second.duplicates) == (2, 1, 1)
    assert ProcessedRecord.objects.get(source_id="2").payload == {"id": 2}
    assert ProcessedRecord.objects.count() == 3


def test_the_cursor_follows_the_highest_id_and_is_sent_as_after(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 9}, {"id": 10}, {"id": 2}])
    robot = make_robot(source_url=stub.url, records=3)
    start_and_run(robot)
    for record in ProcessedRecord.objects.all():
        services.record_finish(record_id=record.pk, status="done")
    robot.refresh_from_db()
    services.cycle_run(robot_id=robot.pk, token=robot.job_id)
    first, second = stub.requests("GET")
    assert robot.cursor == "10"
    assert (first.query, second.query) == ({"limit": "3"}, {"limit": "3", "after": "10"})


def test_fan_out_enqueues_every_record_in_one_pipelined_round_trip(stub: HttpStub, redis_conn: redis.Redis) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": n} for n in range(1, 51)])
    robot = make_robot(source_url=stub.url, records=50)
    token = services.robot_start(name=robot.name, actor=ACTOR).job_id
    before = redis_conn.info("commandstats").get("cmdstat_exec", {}).get("calls", 0)
    services.cycle_run(robot_id=robot.pk, token=token)
    after = redis_conn.info("commandstats")["cmdstat_exec"]["calls"]
    records = Queue("records", connection=redis_conn, serializer="rq.serializers.JSONSerializer")
    expected = sorted(f"rec-{pk}-1" for pk in ProcessedRecord.objects.values_list("pk", flat=True))
    assert after - before == 1
    assert sorted(records.get_job_ids()) == expected
    job = records.fetch_job(records.get_job_ids()[0])
    assert job is not None and job.func_name == "robot.jobs.process_record" and job.retries_left == 3


def test_a_cycle_that_dispatches_nothing_finishes_at_once(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    cycle = start_and_run(robot)
    assert (cycle.status, cycle.fetched) == ("finished", 0)
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_a_cycle_stopped_now_during_its_fetch_fans_out_nothing(stub: HttpStub, redis_conn: redis.Redis) -> None:
    def stop_meanwhile(seen: Seen) -> Reply:
        services.robot_stop(name="r1", now=True, actor=ACTOR)
        connection.close()
        return Reply(body=[{"id": 1}])

    stub.handler = stop_meanwhile
    robot = make_robot(source_url=stub.url)
    cycle = start_and_run(robot)
    robot.refresh_from_db()
    assert (cycle.status, cycle.fanned_out_at, ProcessedRecord.objects.count()) == ("cancelled", None, 0)
    assert (robot.state, robot.job_id) == ("stopped", "")
    assert Queue("records", connection=redis_conn).count == 0


def test_items_a_database_would_refuse_count_as_failed_and_the_rest_is_processed(stub: HttpStub) -> None:
    body = b'[{"id": 1, "score": NaN}, {"id": 2, "t": "nul \\u0000"}, {"id": 3, "x": Infinity}, {"id": 4}]'
    stub.handler = lambda seen: Reply(raw=body)  # Python's json accepts these; PostgreSQL or SQLite would not
    cycle = start_and_run(make_robot(source_url=stub.url))
    assert (cycle.fetched, cycle.dispatched, cycle.failed) == (4, 1, 3)
    assert list(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["4"]
    assert Robot.objects.get().cursor == "4"
