"""Record workers and signals: SIGTERM finishes the record first; a record whose worker was SIGKILLed is retried
and has one effect."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from robot import services
from robot.models import ProcessedRecord, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    StartSweeper,
    demo_source,
    finished_cycles,
    kill_tree,
    make_robot,
    start_sweeper,
    stub,
    target,
)

__all__ = ["start_sweeper", "stub", "target"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")


def test_a_record_worker_given_sigterm_finishes_its_record_then_exits(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker
) -> None:
    stub.handler = demo_source
    sink = IdempotentTarget(delay=2.0)
    target.handler = sink
    robot = make_robot(source_url=stub.url, batch_size=1, interval=60, target_url=target.url)
    start_worker("robot")
    pool = start_worker("records", pool=1)
    services.robot_start(name=robot.name, actor=ACTOR)
    wait_for(lambda: target.requests("POST"), timeout=30, message="the record to be in flight")
    pool.send_signal(signal.SIGTERM)
    assert pool.poll() is None  # still finishing the record
    pool.wait(timeout=30)
    record = ProcessedRecord.objects.get(robot=robot)
    assert (record.status, record.attempts, sink.calls) == ("done", 1, {"r1:1": 1})
    assert RobotCycle.objects.get(robot=robot).status == "finished"


def test_a_record_whose_worker_was_killed_is_retried_and_has_one_effect(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    stub.handler = demo_source
    sink = IdempotentTarget()
    stuck = threading.Event()
    sink.hold["r1:1"] = stuck  # the first delivery hangs at the target until the worker is killed
    target.handler = sink
    robot = make_robot(source_url=stub.url, batch_size=1, interval=60, target_url=target.url)
    start_worker("robot")
    # The worker's POST deadline (10 s) outlasts the kill; its lease (deadline + 5 s) is what the sweeper waits out.
    pool = start_worker("records", pool=1, extra_env={"ROBOT_POST_TIMEOUT": "10"})
    start_sweeper()
    try:
        services.robot_start(name=robot.name, actor=ACTOR)
        wait_for(lambda: target.requests("POST"), timeout=30, message="the record to be in flight")
        kill_tree(pool)
        killed_at = time.time()
        del sink.hold["r1:1"]
        start_worker("records", pool=1)
        (cycle,) = wait_for(lambda: finished_cycles(robot, 1), timeout=60, message="the record to be retried")
    finally:
        stuck.set()
    record = ProcessedRecord.objects.get(robot=robot)
    posts = target.requests("POST")
    assert (record.status, record.attempts, record.dispatch) == ("done", 2, 2)
    assert record.finished_at is not None and record.finished_at.timestamp() > killed_at
    assert {seen.headers["idempotency-key"] for seen in posts} == {"r1:1"} and len(posts) == 2
    assert sink.effects == {"r1:1"} and sink.calls == {"r1:1": 2}
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 1, 0)
