"""Hostile sources, all at once, against real workers: each failure ends its own cycle with a reason code and
a sentence, good items are delivered, every chain goes on, and no worker is held past the fetch deadline."""

from __future__ import annotations

import pytest

from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.reliability.hostile import HostileServer, hostile
from tests.robot.support import StartSweeper, make_robot, start_sweeper

__all__ = ["hostile", "start_sweeper"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")
DEADLINE = 2
FAILING = {
    "timeout": "fetch_timeout",
    "slow-headers": "fetch_timeout",
    "drip": "fetch_timeout",
    "error": "fetch_http_status",
    "not-json": "fetch_not_json",
    "huge": "fetch_too_large",
    "closed-mid-body": "fetch_network",
}
PARTLY_BAD = ("good", "no-ids", "poison", "greedy")


def finished(robot: Robot) -> list[RobotCycle]:
    return list(RobotCycle.objects.filter(robot=robot, finished_at__isnull=False).order_by("number"))


def test_every_hostile_source_fails_only_its_own_cycles_and_every_chain_goes_on(
    hostile: HostileServer, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    env = {"ROBOT_FETCH_TIMEOUT": str(DEADLINE), "ROBOT_FETCH_MAX_BYTES": str(1024 * 1024), "SWEEP_INTERVAL": "1"}
    # max_failed_cycles=0: this test is about every chain going on; pausing has its own tests (test_pause.py).
    robots = {
        name: make_robot(name, source_url=hostile.url(name), batch_size=20, interval=1, max_failed_cycles=0)
        for name in (*FAILING, *PARTLY_BAD)
    }
    start_sweeper(env)
    start_worker("robot", extra_env=env)
    start_worker("records", pool=2, extra_env=env)
    for name in robots:
        services.robot_start(name=name, actor=ACTOR)
    wait_for(lambda: all(len(finished(robot)) >= 3 for robot in robots.values()), timeout=150, message="3 cycles each")
    for name in robots:
        services.robot_stop(name=name, actor=ACTOR)

    for name, code in FAILING.items():
        cycles = finished(robots[name])
        longest = max((c.finished_at - c.started_at).total_seconds() for c in cycles if c.finished_at)
        print(f"source {name}: cycles={len(cycles)} code={cycles[0].error_code} longest={longest:.2f}s")
        assert {(c.status, c.error_code) for c in cycles} == {("failed", code)}, name
        assert cycles[0].error and cycles[0].error[0].islower()  # a sentence, not a traceback
        assert longest <= DEADLINE + 1.5, name  # the fetch ended by its deadline, whatever the source did
    assert "within 2 s" in finished(robots["drip"])[0].error

    good = finished(robots["good"])
    assert all((c.status, c.done, c.fetched) == ("finished", 20, 20) for c in good)

    no_ids = finished(robots["no-ids"])
    assert all((c.status, c.done, c.failed) == ("finished", 15, 5) for c in no_ids)

    poison = finished(robots["poison"])
    first = poison[0]
    # "--1" and "²" are text ids (delivered); a lone surrogate, NaN and NUL cannot be stored (failed).
    assert (first.status, first.done, first.failed, first.fetched) == ("finished", 7, 3, 10)
    delivered = set(ProcessedRecord.objects.filter(robot=robots["poison"]).values_list("source_id", flat=True))
    assert {"1", "2", "3", "4", "5", "--1", "²"} <= delivered
    assert all(c.status == "finished" for c in poison)

    greedy = finished(robots["greedy"])
    assert [c.fetched for c in greedy[:3]] == [20, 20, 10]  # never more than `batch_size`; the rest comes next time
    ids = sorted(
        int(i) for i in ProcessedRecord.objects.filter(robot=robots["greedy"]).values_list("source_id", flat=True)
    )
    assert ids == list(range(1, 51))
    print(f"sources: good={len(good)} no_ids={len(no_ids)} poison={len(poison)} greedy={[c.fetched for c in greedy]}")
