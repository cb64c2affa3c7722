"""Stop now loses nothing: queued records are cancelled and delivered by a later start, once; deliveries in
flight end truthfully."""

from __future__ import annotations

import threading

import pytest

from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.helpers import wait_for
from tests.robot.support import HttpStub, IdempotentTarget, Reply, make_robot

ACTOR = services.Actor(source="api", label="tester")
pytestmark = pytest.mark.django_db(transaction=True)


def pairs(*source_ids: str) -> list[tuple[int, int]]:
    found = ProcessedRecord.objects.filter(source_id__in=source_ids).order_by("pk")
    return list(found.values_list("pk", "dispatch"))


def feed(stub: HttpStub) -> None:
    def page(seen: object) -> Reply:
        after = int(getattr(seen, "query", {}).get("after", "0"))
        return Reply(body=[{"id": n} for n in range(after + 1, after + 5)])

    stub.handler = page


def stop_now_with_record_1_in_flight(
    stub: HttpStub, target: HttpStub, sink: IdempotentTarget
) -> tuple[threading.Event, threading.Thread]:
    """Start a two-record cycle, hold record 1's POST at the target, stop now; return the gate and the delivery."""
    gate = threading.Event()
    sink.hold["r1:1"] = gate
    target.handler = sink
    feed(stub)
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=2, chunk_size=1, interval=60)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    in_flight = threading.Thread(target=services.records_process, kwargs={"pairs": pairs("1")})
    in_flight.start()
    wait_for(lambda: target.requests("POST"), timeout=10)
    services.robot_stop(name="r1", now=True, actor=ACTOR)
    return gate, in_flight


def test_stop_now_cancels_queued_records_and_a_later_start_delivers_them_once(stub: HttpStub, target: HttpStub) -> None:
    sink = IdempotentTarget()
    target.handler = sink
    feed(stub)
    robot = make_robot(source_url=stub.url, target_url=target.url, batch_size=4, chunk_size=1, interval=60)
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    services.records_process(pairs=pairs("1"))
    stale_jobs = pairs("2", "3", "4")
    services.robot_stop(name="r1", now=True, actor=ACTOR)
    first = RobotCycle.objects.get()
    assert (first.status, first.done, first.cancelled) == ("cancelled", 1, 3)
    assert all(services.records_process(pairs=[p]).skipped == 1 for p in stale_jobs)  # fenced out

    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    second = RobotCycle.objects.get(number=2)
    adopted = ProcessedRecord.objects.filter(cycle=second).order_by("pk")
    # The three cancelled records come first and count against `batch_size`: one new item fills the cycle.
    assert [r.source_id for r in adopted] == ["2", "3", "4", "5"]
    assert stub.requests()[-1].query == {"limit": "1", "after": "4"}
    for record in adopted:
        services.records_process(pairs=[(record.pk, record.dispatch)])
    second.refresh_from_db()
    assert (second.status, second.done, second.fetched, second.dispatched) == ("finished", 4, 1, 4)
    assert sorted(sink.effects) == ["r1:1", "r1:2", "r1:3", "r1:4", "r1:5"]
    assert all(n == 1 for n in sink.accepted.values())
    assert RobotCycle.objects.filter(finished_at__isnull=True).count() == 0


def test_a_delivery_in_flight_during_stop_now_is_recorded_as_what_happened(stub: HttpStub, target: HttpStub) -> None:
    gate, in_flight = stop_now_with_record_1_in_flight(stub, target, IdempotentTarget())
    cycle = RobotCycle.objects.get()
    assert cycle.finished_at is None  # still one delivery in flight: the cycle ends when it does
    gate.set()
    in_flight.join(20)
    cycle.refresh_from_db()
    statuses = dict(ProcessedRecord.objects.values_list("source_id", "status"))
    assert statuses == {"1": "done", "2": "cancelled"}
    assert (cycle.status, cycle.done, cycle.cancelled) == ("cancelled", 1, 1)


def test_a_delivery_failing_transiently_after_stop_now_is_cancelled_not_retried(
    stub: HttpStub, target: HttpStub, redis_conn: object
) -> None:
    sink = IdempotentTarget({"r1:1": [503, 200]})
    gate, in_flight = stop_now_with_record_1_in_flight(stub, target, sink)
    robot = Robot.objects.get(name="r1")
    gate.set()
    in_flight.join(20)
    cycle = RobotCycle.objects.get()
    assert dict(ProcessedRecord.objects.values_list("source_id", "status")) == {"1": "cancelled", "2": "cancelled"}
    assert (cycle.status, cycle.cancelled) == ("cancelled", 2)
    del sink.hold["r1:1"]
    token = services.robot_start(name="r1", actor=ACTOR).chain_token
    services.cycle_run(robot_id=robot.pk, token=token)
    for pk, dispatch in pairs("1", "2"):
        services.records_process(pairs=[(pk, dispatch)])
    robot.refresh_from_db()
    assert sorted(sink.effects) == ["r1:1", "r1:2"]
    assert (robot.total_done, robot.total_cancelled) == (2, 0)  # re-delivered records are not counted twice
