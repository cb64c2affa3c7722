"""The record pipeline with real workers: deliveries of one record never overlap, a cycle completes once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import override_settings

from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from robot.services import queueing
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import DripServer, HttpStub, IdempotentTarget, Reply, StartSweeper, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_slow_dripping_delivery_is_cut_at_its_deadline_and_never_overlaps_its_retry(
    stub: HttpStub, drip: DripServer, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    # Headers just under the 2 s deadline, then a body that drips for seconds: per-read timeouts never fire.
    drip.script = [(1.8, b"x" * 200, 0.05, 200)]
    drip.plan(header_delay=0, body=b"{}", byte_interval=0)
    stub.handler = lambda seen: Reply(body=[{"id": 1}])
    make_robot(source_url=stub.url, target_url=drip.url, batch_size=1, interval=3600)
    fast = {"ROBOT_POST_TIMEOUT": "2", "SWEEP_INTERVAL": "1"}
    start_sweeper(fast)
    start_worker("robot", extra_env=fast)
    start_worker("records", pool=1, extra_env=fast)
    services.robot_start(name="r1", actor=ACTOR)
    wait_for(lambda: RobotCycle.objects.filter(finished_at__isnull=False).exists(), timeout=60)
    record = ProcessedRecord.objects.get()
    keys = [key for key, _ in drip.requests]
    print(f"overlap: posts={len(keys)} max_in_flight={drip.max_in_flight} attempts={record.attempts}")
    assert keys == ["r1:1", "r1:1"]
    assert drip.max_in_flight == 1
    assert (record.status, record.attempts) == ("done", 2)
    assert RobotCycle.objects.get().done == 1


@pytest.mark.parametrize("round_", range(3))
def test_two_workers_finishing_the_last_two_records_at_once_end_the_cycle_once(
    stub: HttpStub, target: HttpStub, round_: int, redis_conn: object
) -> None:
    script = IdempotentTarget()
    gate = threading.Event()
    script.hold = {"r1:1": gate, "r1:2": gate}
    target.handler = script
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}])
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=2, chunk_size=1, interval=60)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    pairs = list(ProcessedRecord.objects.order_by("pk").values_list("pk", "dispatch"))
    errors: list[BaseException] = []

    def finish(pair: tuple[int, int]) -> None:
        try:
            services.records_process(pairs=[pair])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(pair,)) for pair in pairs]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(target.requests("POST")) == 2, timeout=10)
    gate.set()  # both deliveries answer together; both workers then look for the end of the cycle
    for thread in threads:
        thread.join(30)
    robot.refresh_from_db()
    assert errors == []
    assert list(RobotCycle.objects.values_list("status", "done")) == [("finished", 2)]
    assert robot.cycles_completed == 1
    assert [m.decode() for m in redis_conn.zrange(queueing.DUE_KEY, 0, -1)] == [f"{robot.pk}:{robot.chain_token}"]  # type: ignore[attr-defined]


@override_settings(ROBOT_RECORD_RETRIES=3)
def test_record_finishing_never_waits_for_the_robot_row_lock(stub: HttpStub, target: HttpStub) -> None:
    target.handler = IdempotentTarget()
    stub.handler = lambda seen: Reply(body=[{"id": 1}, {"id": 2}])
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=2, chunk_size=1)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    first = ProcessedRecord.objects.order_by("pk").values_list("pk", "dispatch").first()
    assert first is not None
    holding = threading.Event()
    release = threading.Event()

    def hold_robot_lock() -> None:
        from django.db import transaction

        with transaction.atomic():
            Robot.objects.select_for_update().get(pk=robot.pk)
            holding.set()
            release.wait(20)
        connection.close()

    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one database-wide write lock; row locks are a PostgreSQL matter")
    locker = threading.Thread(target=hold_robot_lock)
    locker.start()
    try:
        assert holding.wait(10)
        result = services.records_process(pairs=[first])  # not the last record: must not need the robot row
        assert result.done == 1
    finally:
        release.set()
        locker.join(20)
