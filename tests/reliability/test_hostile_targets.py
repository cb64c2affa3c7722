"""Hostile targets against real workers: retried with the same key, 4xx final, never two deliveries of one key
in flight, every cycle ends with the right counts."""

from __future__ import annotations

import pytest

from robot import services
from robot.models import ProcessedRecord, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.reliability.hostile import HostileTarget, hostile_target
from tests.robot.support import HttpStub, StartSweeper, demo_source, make_robot, start_sweeper, stub

__all__ = ["hostile_target", "start_sweeper", "stub"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")
# behaviour -> (record status, attempts) expected for every record
EXPECTED = {
    "fine": ("done", 1),
    "flaky": ("done", 2),
    "reject": ("failed", 1),
    "slow": ("done", 2),
    "drip": ("done", 2),
}


def test_every_hostile_target_gets_each_key_retried_alone_and_never_twice_at_once(
    hostile_target: HostileTarget, stub: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    stub.handler = demo_source
    robots = {
        name: make_robot(name, source_url=stub.url, target_url=hostile_target.url(name), batch_size=4, chunk_size=2)
        for name in EXPECTED
    }
    env = {"ROBOT_POST_TIMEOUT": "2", "SWEEP_INTERVAL": "1"}
    start_sweeper(env)
    start_worker("robot", extra_env=env)
    start_worker("records", pool=2, extra_env=env)
    for name in robots:
        services.robot_run_once(name=name, actor=ACTOR)
    wait_for(
        lambda: RobotCycle.objects.filter(finished_at__isnull=False).count() == len(robots),
        timeout=120,
        message="one finished cycle per robot",
    )
    for name, (status, attempts) in EXPECTED.items():
        found = set(ProcessedRecord.objects.filter(robot=robots[name]).values_list("status", "attempts"))
        cycle = RobotCycle.objects.get(robot=robots[name])
        print(f"target {name}: records={found} cycle=({cycle.status}, done={cycle.done}, failed={cycle.failed})")
        assert found == {(status, attempts)}, name
        assert (cycle.done, cycle.failed) == ((4, 0) if status == "done" else (0, 4)), name
    calls = hostile_target.calls
    print(f"targets: posts={sum(calls.values())} keys={len(calls)} max_in_flight={hostile_target.max_in_flight}")
    assert hostile_target.max_in_flight == 1
    assert sum(calls.values()) == sum(4 * attempts for _, attempts in EXPECTED.values())
