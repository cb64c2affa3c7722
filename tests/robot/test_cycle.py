"""One cycle, run in-process: claim, fetch, fan-out; every fetch failure ends the cycle and the chain goes on."""

from __future__ import annotations

import gc
import random
import threading
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import override_settings
from rq.queue import Queue

from asyncportal.queue_names import SERIALIZER
from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import queueing
from tests.robot.support import HttpStub, Reply, Seen, chain_jobs, deliver_queued, due_tokens, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def start_and_run(robot: Robot) -> RobotCycle:
    token = services.robot_start(name=robot.name, actor=ACTOR).chain_token
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    assert cycle_id is not None
    return RobotCycle.objects.get(pk=cycle_id)


def assert_next_cycle_scheduled(robot: Robot, cycle: RobotCycle, conn: redis.Redis) -> None:
    robot.refresh_from_db()
    assert cycle.finished_at is not None
    assert robot.next_run_at == cycle.finished_at + timedelta(seconds=robot.interval)
    assert due_tokens(conn, robot) == [robot.chain_token] and robot.chain_token != cycle.job_id
    assert chain_jobs(conn, robot) == []  # not on the queue before its time: the ticker moves it there


@pytest.mark.parametrize(
    ("reply", "code", "reason"),
    [
        (Reply(status=503), "fetch_http_status", "the source answered HTTP 503"),
        (Reply(raw=b"<html>"), "fetch_not_json", "the source's answer is not JSON (JSONDecodeError)"),
        (Reply(body={"items": [{"id": 1}]}), "fetch_wrong_shape", "not a JSON array"),
        (
            Reply(body=[{"id": n, "pad": "x" * 100} for n in range(20)]),
            "fetch_too_large",
            "more than the 1024 allowed",
        ),
    ],
)
@override_settings(ROBOT_FETCH_MAX_BYTES=1024)
def test_fetch_failure_ends_the_cycle_failed_with_a_code_and_the_chain_goes_on(
    stub: HttpStub, redis_conn: redis.Redis, reply: Reply, code: str, reason: str
) -> None:
    stub.handler = lambda seen: reply
    robot = make_robot(source_url=stub.url, interval=5)
    cycle = start_and_run(robot)
    assert (cycle.status, cycle.error_code) == ("failed", code) and reason in cycle.error
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
    assert (cycle.status, cycle.error_code) == ("failed", "fetch_timeout")
    assert cycle.error == "the source sent no complete answer within 1 s"
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_an_unreachable_source_fails_the_cycle_and_the_chain_goes_on(redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url="http://127.0.0.1:1/feed")
    cycle = start_and_run(robot)
    assert (cycle.status, cycle.error_code) == ("failed", "fetch_network")
    assert cycle.error == "the source could not be reached"  # no exception text: it names addresses and ports
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_items_without_a_usable_id_count_as_failed(stub: HttpStub) -> None:
    bad: list[Any] = [{"title": "no id"}, {"id": None}, {"id": ""}, {"id": True}, {"id": 1.5}, {"id": {}}, 7, "x"]
    stub.handler = lambda seen: Reply(body=[{"id": 1}, *bad, {"id": "abc"}])
    cycle = start_and_run(make_robot(source_url=stub.url, batch_size=10))
    assert (cycle.fetched, cycle.dispatched, cycle.failed, cycle.duplicates) == (10, 2, 8, 0)
    assert sorted(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["1", "abc"]


def test_duplicates_are_counted_and_stored_once(stub: HttpStub, redis_conn: redis.Redis) -> None:
    batches = iter([[{"id": 1}, {"id": 2}, {"id": "2"}], [{"id": 2, "title": "changed"}, {"id": 3}]])
    stub.handler = lambda seen: Reply(body=next(batches))
    robot = make_robot(source_url=stub.url)
    first = start_and_run(robot)
    deliver_queued(robot)
    robot.refresh_from_db()
    second_id = services.cycle_run(robot_id=robot.pk, token=robot.chain_token)
    assert second_id is not None
    second = RobotCycle.objects.get(pk=second_id)
    assert (first.fetched, first.dispatched, first.duplicates) == (3, 2, 1)
    assert (second.fetched, second.dispatched, second.duplicates) == (2, 1, 1)
    assert ProcessedRecord.objects.get(source_id="2").payload == {"id": 2}
    assert ProcessedRecord.objects.count() == 3


def test_the_cursor_follows_the_highest_id_and_is_sent_as_after(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 9}, {"id": 10}, {"id": 2}])
    robot = make_robot(source_url=stub.url, batch_size=3)
    start_and_run(robot)
    deliver_queued(robot)
    robot.refresh_from_db()
    services.cycle_run(robot_id=robot.pk, token=robot.chain_token)
    first, second = stub.requests("GET")
    assert robot.cursor == "10"
    assert (first.query, second.query) == ({"limit": "3"}, {"limit": "3", "after": "10"})


def test_fan_out_enqueues_the_records_in_chunks_in_one_pipelined_round_trip(
    stub: HttpStub, redis_conn: redis.Redis
) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": n} for n in range(1, 51)])
    robot = make_robot(source_url=stub.url, batch_size=50, chunk_size=20)
    token = services.robot_start(name=robot.name, actor=ACTOR).chain_token
    before = redis_conn.info("commandstats").get("cmdstat_exec", {}).get("calls", 0)
    cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    after = redis_conn.info("commandstats")["cmdstat_exec"]["calls"]
    assert cycle_id is not None
    records = Queue("records", connection=redis_conn, serializer=SERIALIZER)
    chunks = [queueing.chunk_job_id(cycle_id, index) for index in range(3)]
    pks = list(ProcessedRecord.objects.order_by("pk").values_list("pk", flat=True))
    assert after - before == 1
    assert sorted(records.get_job_ids()) == sorted(chunks)
    jobs = [records.fetch_job(job_id) for job_id in chunks]
    assert [job.args if job else None for job in jobs] == [
        [[[pk, 1] for pk in pks[0:20]]],
        [[[pk, 1] for pk in pks[20:40]]],
        [[[pk, 1] for pk in pks[40:50]]],
    ]
    assert all(job is not None and job.func_name == "robot.jobs.process_records" for job in jobs)
    assert all(job is not None and not job.retries_left for job in jobs)  # records are retried one by one
    by_record = dict(ProcessedRecord.objects.values_list("pk", "job_id"))
    assert [by_record[pk] for pk in pks] == [chunks[0]] * 20 + [chunks[1]] * 20 + [chunks[2]] * 10


def test_fan_out_stores_each_record_as_the_model_would_with_its_payload_intact(stub: HttpStub) -> None:
    payloads: list[Any] = [
        {"id": 1, "title": "caf\u00e9 \u2603 \U0001f600", "quote": 'it\'s "x" \\ %s %%', "n": 10**20, "f": 0.1},
        {"id": "abc", "nested": {"list": [1, None, True, {"k": []}]}, "empty": {}},
    ]
    stub.handler = lambda seen: Reply(body=payloads)
    cycle = start_and_run(make_robot(source_url=stub.url))
    defaults = ProcessedRecord(robot_id=0, source_id="")
    for record, payload in zip(ProcessedRecord.objects.order_by("source_id"), payloads, strict=True):
        assert record.payload == payload and record.source_id == str(payload["id"])
        assert (record.status, record.attempts, record.dispatch, record.error) == (
            defaults.status,
            defaults.attempts,
            defaults.dispatch,
            defaults.error,
        )
        assert (record.lease_until, record.started_at, record.finished_at) == (None, None, None)
        assert record.dispatched_at == record.created_at == cycle.fanned_out_at
        assert (record.robot_id, record.cycle_id) == (cycle.robot_id, cycle.pk)


def test_a_large_fan_out_gives_each_job_its_own_records_in_id_order(stub: HttpStub, redis_conn: redis.Redis) -> None:
    ids = list(range(1, 1201))
    random.Random(7).shuffle(ids)
    stub.handler = lambda seen: Reply(body=[{"id": n} for n in ids])  # more than one INSERT statement holds
    robot = make_robot(source_url=stub.url, batch_size=1200, chunk_size=7)
    cycle = start_and_run(robot)
    records = Queue("records", connection=redis_conn, serializer=SERIALIZER)
    assert (cycle.dispatched, records.count) == (1200, 172)
    by_pk = {record.pk: record for record in ProcessedRecord.objects.all()}
    delivered: list[int] = []
    for index in range(172):
        job = records.fetch_job(queueing.chunk_job_id(cycle.pk, index))
        assert job is not None
        stored = [by_pk[pk] for pk, dispatch in job.args[0] if dispatch == 1]
        assert len(stored) == len(job.args[0]) == (7 if index < 171 else 3)
        assert all(record.job_id == job.id for record in stored)
        delivered += [int(record.source_id) for record in stored]
    assert delivered == sorted(ids)


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
    assert (robot.state, robot.chain_token) == ("stopped", "")
    assert Queue("records", connection=redis_conn).count == 0


def test_items_a_database_would_refuse_count_as_failed_and_the_rest_is_processed(stub: HttpStub) -> None:
    body = b'[{"id": 1, "score": NaN}, {"id": 2, "t": "nul \\u0000"}, {"id": 3, "x": Infinity}, {"id": 4}]'
    stub.handler = lambda seen: Reply(raw=body)  # Python's json accepts these; PostgreSQL or SQLite would not
    cycle = start_and_run(make_robot(source_url=stub.url))
    assert (cycle.fetched, cycle.dispatched, cycle.failed) == (4, 1, 3)
    assert list(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["4"]
    assert Robot.objects.get().cursor == "4"


def test_a_cycle_takes_at_most_records_items_lowest_ids_first_and_the_rest_comes_next(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": 12}, {"id": 3}, {"title": "no id"}, {"id": 10}, {"id": 11}])
    robot = make_robot(source_url=stub.url, batch_size=3)
    cycle = start_and_run(robot)
    robot.refresh_from_db()
    assert (cycle.fetched, cycle.dispatched, cycle.failed) == (3, 3, 0)
    assert sorted(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["10", "11", "3"]
    assert robot.cursor == "11"  # 12 was not taken: the next fetch (after=11) brings it again


def test_ids_that_are_not_ascii_integers_are_text_and_do_not_fail_the_cycle(stub: HttpStub) -> None:
    stub.handler = lambda seen: Reply(body=[{"id": "\u00b2"}, {"id": "--1"}, {"id": 5}])
    robot = make_robot(source_url=stub.url)
    cycle = start_and_run(robot)
    robot.refresh_from_db()
    assert (cycle.fetched, cycle.dispatched, cycle.failed) == (3, 3, 0)
    assert sorted(ProcessedRecord.objects.values_list("source_id", flat=True)) == ["--1", "5", "\u00b2"]
    assert robot.cursor == "\u00b2"  # text ids sort after every integer


def test_a_missing_source_secret_fails_the_cycle_with_its_code_and_the_chain_goes_on(
    stub: HttpStub, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROBOT_SECRET_FEED", raising=False)
    robot = make_robot(source_url=stub.url, source_secret="ROBOT_SECRET_FEED")
    cycle = start_and_run(robot)
    assert (cycle.status, cycle.error_code) == ("failed", "secret_missing")
    assert cycle.error == "the source secret ROBOT_SECRET_FEED is not set in the worker's environment"
    assert stub.requests() == []
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_a_refused_source_fails_the_cycle_with_fetch_refused(stub: HttpStub, redis_conn: redis.Redis) -> None:
    robot = make_robot(source_url=stub.url)
    token = services.robot_start(name=robot.name, actor=ACTOR).chain_token
    # The URL was accepted under another policy: the check that counts is the one at connect time.
    with override_settings(ROBOT_OUTBOUND_POLICY="public", ROBOT_OUTBOUND_ALLOW=[]):
        cycle_id = services.cycle_run(robot_id=robot.pk, token=token)
    cycle = RobotCycle.objects.get(pk=cycle_id or 0)
    assert (cycle.status, cycle.error_code) == ("failed", "fetch_refused")
    assert (
        cycle.error == "the source was refused: 127.0.0.1 is loopback; an operator may allow it in ROBOT_OUTBOUND_ALLOW"
    )
    robot.refresh_from_db()
    assert robot.last_error == f"cycle 1: {cycle.error}" and stub.requests() == []
    assert_next_cycle_scheduled(robot, cycle, redis_conn)


def test_a_fan_out_enqueues_with_the_collector_paused_and_turns_it_back_on(
    stub: HttpStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector_on: list[bool] = []
    enqueue = queueing.enqueue_records

    def watched(jobs: list[tuple[str, list[tuple[int, int]]]]) -> int:
        collector_on.append(gc.isenabled())
        return enqueue(jobs)

    monkeypatch.setattr(queueing, "enqueue_records", watched)
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}])
    cycle = start_and_run(make_robot(source_url=stub.url))
    assert (cycle.dispatched, collector_on, gc.isenabled()) == (2, [False], True)


def test_ids_stored_by_an_earlier_cycle_are_duplicates_whatever_their_characters(stub: HttpStub) -> None:
    odd = ["it's", 'say "hi"', "back\\slash", "caf\u00e9", "\U0001f600", "7", "%s", "a,b]"]
    stub.handler = lambda seen: Reply(body=[{"id": source_id} for source_id in odd])
    robot = make_robot(source_url=stub.url, batch_size=20)
    first = start_and_run(robot)
    deliver_queued(robot)
    robot.refresh_from_db()
    stub.handler = lambda seen: Reply(body=[{"id": source_id} for source_id in [*odd, "new"]])
    second_id = services.cycle_run(robot_id=robot.pk, token=robot.chain_token)
    assert second_id is not None
    second = RobotCycle.objects.get(pk=second_id)
    assert (first.dispatched, second.dispatched, second.duplicates) == (8, 1, 8)
    assert ProcessedRecord.objects.filter(cycle=second).get().source_id == "new"
