"""Self-healing with real processes: Redis restarted empty, the robot worker killed mid-cycle.

These tests run their own Redis server (never the shared one) so they can restart it empty.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
from pytest_django.live_server_helper import LiveServer

from robot import services
from robot.models import ProcessedRecord, Robot, RobotAudit, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.reliability.private_redis import RestartableRedis, private_redis, redis_conn
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    Reply,
    Seen,
    StartSweeper,
    demo_source,
    ended,
    finished_cycles,
    kill_tree,
    make_robot,
    start_sweeper,
    stub,
    target,
)

__all__ = ["private_redis", "redis_conn", "start_sweeper", "stub", "target"]
pytestmark = pytest.mark.slow
ACTOR = services.Actor(source="api", label="test")
HEAL_DEADLINE = 60.0


def no_overlap_and_no_double_run(robot: Robot) -> list[RobotCycle]:
    done = list(RobotCycle.objects.filter(robot=robot).order_by("number"))
    assert [cycle.number for cycle in done] == list(range(1, len(done) + 1))
    for previous, following in zip(done, done[1:], strict=False):
        assert previous.finished_at is not None and following.started_at >= previous.finished_at
    assert len({cycle.job_id for cycle in done}) == len(done)
    assert sum(cycle.duplicates for cycle in done) == 0  # a cycle run twice would fetch the same ids again
    return done


def test_redis_restarted_empty_between_cycles_is_healed_within_a_minute(
    live_server: LiveServer,
    private_redis: RestartableRedis,
    start_worker: StartWorker,
    start_sweeper: StartSweeper,
    redis_conn: redis.Redis,
) -> None:
    robot = make_robot(source_url=f"{live_server.url}/api/demo/todos/", batch_size=3, interval=2)
    env = {"REDIS_URL": private_redis.url}
    start_worker("robot", extra_env=env)
    start_worker("records", pool=2, extra_env=env)
    start_sweeper(env)
    services.robot_start(name=robot.name, actor=ACTOR)
    before = len(wait_for(lambda: finished_cycles(robot, 2), timeout=40, message="two cycles"))
    wait_for(lambda: not RobotCycle.objects.filter(robot=robot, finished_at__isnull=True).exists(), timeout=20)
    back_at = private_redis.restart_empty()  # the next cycle's due time is gone with it
    healed = wait_for(lambda: finished_cycles(robot, before + 1), timeout=HEAL_DEADLINE, message="a healed cycle")
    assert healed[before].started_at.timestamp() - back_at < HEAL_DEADLINE
    wait_for(lambda: finished_cycles(robot, before + 2), timeout=HEAL_DEADLINE, message="the chain to go on")
    no_overlap_and_no_double_run(robot)
    ids = sorted(int(s) for s in ProcessedRecord.objects.filter(robot=robot).values_list("source_id", flat=True))
    assert ids == list(range(1, len(ids) + 1))


def test_redis_restarted_empty_mid_cycle_loses_no_record_and_posts_each_once(
    stub: HttpStub,
    target: HttpStub,
    private_redis: RestartableRedis,
    start_worker: StartWorker,
    start_sweeper: StartSweeper,
) -> None:
    stub.handler = demo_source
    sink = IdempotentTarget(delay=0.4)
    target.handler = sink
    # One record per job: the first job is in flight, the five others are queued and vanish with Redis.
    robot = make_robot(source_url=stub.url, batch_size=6, interval=60, target_url=target.url, chunk_size=1)
    env = {"REDIS_URL": private_redis.url}
    start_worker("robot", extra_env=env)
    start_worker("records", pool=1, extra_env=env)
    start_sweeper(env)
    services.robot_start(name=robot.name, actor=ACTOR)
    wait_for(lambda: len(target.requests("POST")) >= 1, timeout=30, message="the first record in flight")
    back_at = private_redis.restart_empty()  # the queued record jobs vanish
    (cycle,) = wait_for(lambda: finished_cycles(robot, 1), timeout=HEAL_DEADLINE, message="the cycle to finish")
    assert cycle.finished_at is not None and cycle.finished_at.timestamp() - back_at < HEAL_DEADLINE
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 6, 0)
    assert sink.effects == {f"r1:{n}" for n in range(1, 7)}
    assert set(ProcessedRecord.objects.values_list("status", flat=True)) == {"done"}
    assert ProcessedRecord.objects.filter(dispatch__gt=1).exists()  # proof that the sweeper re-dispatched


def test_robot_worker_killed_mid_fetch_is_healed_without_a_double_cycle(
    stub: HttpStub,
    start_worker: StartWorker,
    start_sweeper: StartSweeper,
    redis_conn: redis.Redis,
) -> None:
    hang = threading.Event()
    fetches: list[Seen] = []

    def source(seen: Seen) -> Reply:
        fetches.append(seen)
        reply = demo_source(seen)
        return Reply(body=reply.body, wait=hang if len(fetches) == 2 else None)

    stub.handler = source
    robot = make_robot(source_url=stub.url, batch_size=2, interval=1)
    env = {"ROBOT_FETCH_TIMEOUT": "2"}
    worker = start_worker("robot", extra_env=env)
    start_worker("records", pool=1, extra_env=env)
    start_sweeper(env)
    try:
        services.robot_start(name=robot.name, actor=ACTOR)
        wait_for(lambda: len(fetches) >= 2, timeout=30, message="the second cycle's fetch")
        kill_tree(worker)  # the robot pod dies mid-fetch: worker, work horse and scheduler
        killed_at = time.time()
        start_worker("robot", extra_env=env)
        wait_for(lambda: finished_cycles(robot, 3), timeout=HEAL_DEADLINE, message="the chain to be re-armed")
    finally:
        hang.set()
    interrupted = RobotCycle.objects.get(robot=robot, number=2)
    healed = RobotCycle.objects.get(robot=robot, number=3)
    assert (interrupted.status, interrupted.error_code) == ("failed", "worker_lost")
    assert interrupted.error.startswith("the cycle's worker was lost: ")
    resumed_after = ended(healed).timestamp() - killed_at
    print(
        f"robot worker kill: resumed_after={resumed_after:.1f}s interrupted={interrupted.status} "
        f"healed={healed.status} cycles={RobotCycle.objects.filter(robot=robot).count()}"
    )
    assert healed.status == "finished" and resumed_after <= HEAL_DEADLINE
    assert RobotAudit.objects.filter(robot=robot, action="heal", detail__contains="worker was lost").count() == 1
    no_overlap_and_no_double_run(robot)
