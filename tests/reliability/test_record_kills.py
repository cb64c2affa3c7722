"""Record workers SIGKILLed again and again mid-chunk: every record still ends final once, one effect per key."""

from __future__ import annotations

import random
import signal
import time

import psutil
import pytest

from robot import services
from robot.models import ProcessedRecord
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    StartSweeper,
    demo_source,
    finished_cycles,
    make_robot,
    start_sweeper,
    stub,
    target,
)

__all__ = ["start_sweeper", "stub", "target"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")
RECORDS = 1000
KILLS = 10
CONCURRENCY = 4  # records a worker POSTs at once


def test_record_workers_killed_mid_chunk_leave_every_record_final_once(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    stub.handler = demo_source
    sink = IdempotentTarget(delay=0.02)
    target.handler = sink
    robot = make_robot(source_url=stub.url, batch_size=RECORDS, interval=3600, target_url=target.url, chunk_size=20)
    env = {"ROBOT_POST_TIMEOUT": "2", "SWEEP_INTERVAL": "1", "ROBOT_DELIVERY_CONCURRENCY": str(CONCURRENCY)}
    start_sweeper(env)
    start_worker("robot", extra_env=env)
    pool = start_worker("records", pool=2, extra_env=env)
    services.robot_start(name=robot.name, actor=ACTOR)
    wait_for(lambda: len(target.requests("POST")) >= 20, timeout=60, message="deliveries to be under way")
    rng = random.Random(7)
    kills = 0
    last_kill = time.time()
    while kills < KILLS and not finished_cycles(robot, 1):
        busy = [p for p in psutil.Process(pool.pid).children(recursive=True) if p.is_running()]
        if busy:
            rng.choice(busy).send_signal(signal.SIGKILL)
            kills += 1
            last_kill = time.time()
        time.sleep(rng.uniform(0.3, 0.8))  # Pacing, not waiting: kills land at random points of delivery.
    (cycle,) = wait_for(lambda: finished_cycles(robot, 1), timeout=150, message="the cycle to end after the kills")
    ended_after = cycle.finished_at.timestamp() - last_kill if cycle.finished_at else -1
    statuses = list(ProcessedRecord.objects.filter(robot=robot).values_list("status", flat=True))
    posts = target.requests("POST")
    keys = [seen.headers["idempotency-key"] for seen in posts]
    print(
        f"record kills: kills={kills} records={len(statuses)} done={statuses.count('done')} "
        f"posts={len(posts)} distinct_keys={len(set(keys))} effects={len(sink.effects)} "
        f"cycle_end_after_last_kill={ended_after:.1f}s"
    )
    assert len(statuses) == RECORDS and set(statuses) == {"done"}
    assert len(sink.effects) == RECORDS and set(keys) == sink.effects
    # A kill can cut only the deliveries its worker had in flight (one sub-batch): those alone are posted again.
    assert len(posts) - RECORDS <= kills * CONCURRENCY
    assert (cycle.status, cycle.done) == ("finished", RECORDS)
    assert ended_after <= 120
