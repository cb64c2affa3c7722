"""The whole robot with real processes: robot worker, record worker pool (its scheduler runs record retries),
the sweeper (its ticker starts due cycles) and a real source."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from django.test import override_settings
from pytest_django.live_server_helper import LiveServer
from rq.job import Job
from rq.queue import Queue

from asyncportal.queue_names import SERIALIZER
from robot import services
from robot.models import ProcessedRecord, Robot, RobotCycle
from tests.conftest import StartWorker
from tests.helpers import wait_for
from tests.robot.support import (
    HttpStub,
    IdempotentTarget,
    StartSweeper,
    chain_tokens,
    demo_source,
    due_tokens,
    ended,
    finished_cycles,
    job_status,
    make_robot,
)

pytestmark = pytest.mark.slow
ADMIN = services.Actor(source="api", label="test")


def test_cycles_follow_each_other_with_the_interval_and_the_cursor(
    live_server: LiveServer, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    robot = make_robot(source_url=f"{live_server.url}/api/demo/todos/", batch_size=5, interval=1, chunk_size=2)
    start_worker("robot")
    start_worker("records", pool=2)
    start_sweeper()
    services.robot_start(name=robot.name, actor=ADMIN)
    done = wait_for(lambda: finished_cycles(robot, 3), timeout=40, message="three finished cycles")
    assert [(c.number, c.status, c.fetched, c.dispatched, c.done) for c in done[:3]] == [
        (1, "finished", 5, 5, 5),
        (2, "finished", 5, 5, 5),
        (3, "finished", 5, 5, 5),
    ]
    for previous, following in zip(done, done[1:], strict=False):
        assert following.started_at >= ended(previous) + timedelta(seconds=1)
    ids = sorted(int(s) for s in ProcessedRecord.objects.filter(robot=robot).values_list("source_id", flat=True))
    assert ids[:15] == list(range(1, 16))
    robot.refresh_from_db()
    assert robot.cycles_completed >= 3 and robot.total_done >= 15


def test_cycle_finishes_only_when_every_record_is_final_even_past_the_interval(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    stub.handler = demo_source
    target.handler = IdempotentTarget(delay=0.6)  # 3 records over 1 worker: ~1.8 s, longer than the interval
    robot = make_robot(source_url=stub.url, batch_size=3, interval=1, target_url=f"{target.url}/in")
    start_worker("robot")
    start_worker("records", pool=1)
    start_sweeper()
    services.robot_start(name=robot.name, actor=ADMIN)
    done = wait_for(lambda: finished_cycles(robot, 2), timeout=40, message="two finished cycles")
    first, second = done[0], done[1]
    last_post_of_first = max(s.at for s in target.requests("POST")[:3])
    assert ended(first).timestamp() >= last_post_of_first
    assert second.started_at >= ended(first) + timedelta(seconds=1)
    # Each of the first six records was delivered exactly once, under its own idempotency key.
    keys = [s.headers["idempotency-key"] for s in target.requests("POST")[:6]]
    assert sorted(keys) == [f"r1:{n}" for n in range(1, 7)]
    assert Robot.objects.get(pk=robot.pk).state == "running"


def holds(predicate: Callable[[], bool], seconds: float) -> None:
    """Assert that ``predicate`` stays true for ``seconds`` (used only to prove that something does NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate()
        time.sleep(0.05)


def test_records_are_retried_with_backoff_on_5xx_and_4xx_is_final(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker
) -> None:
    stub.handler = demo_source
    script = {"r1:1": [503, 503, 200], "r1:2": [404], "r1:3": [500, 502, 504]}
    target.handler = IdempotentTarget(script)
    robot = make_robot(source_url=stub.url, batch_size=3, interval=60, target_url=target.url)
    env = {"ROBOT_RECORD_RETRIES": "2"}
    start_worker("robot", extra_env=env)
    start_worker("records", pool=2, extra_env=env)
    services.robot_start(name=robot.name, actor=ADMIN)
    (cycle,) = wait_for(lambda: finished_cycles(robot, 1), timeout=30, message="the first cycle")
    records = {r.source_id: r for r in ProcessedRecord.objects.filter(robot=robot)}
    posts = {key: [s.at for s in target.requests("POST") if s.headers["idempotency-key"] == key] for key in script}
    first_wait, second_wait = (b - a for a, b in zip(posts["r1:1"], posts["r1:1"][1:], strict=False))
    assert (records["1"].status, records["1"].attempts) == ("done", 3)
    # Backoff 1 s then 5 s; RQ schedules to whole seconds, so each wait may be up to a second shorter.
    assert second_wait >= 4 and second_wait > first_wait
    assert (records["2"].status, records["2"].attempts, len(posts["r1:2"])) == ("failed", 1, 1)
    assert (records["3"].status, records["3"].attempts, len(posts["r1:3"])) == ("failed", 3, 3)
    assert "HTTP 504" in records["3"].error
    assert (cycle.status, cycle.done, cycle.failed) == ("finished", 1, 2)


def test_stop_removes_the_next_cycle_and_no_cycle_starts_after_stop_returned(
    live_server: LiveServer, start_worker: StartWorker, start_sweeper: StartSweeper, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=f"{live_server.url}/api/demo/todos/", batch_size=2, interval=4)
    start_worker("robot")
    start_worker("records", pool=2)
    start_sweeper()
    services.robot_start(name=robot.name, actor=ADMIN)
    wait_for(lambda: finished_cycles(robot, 1), timeout=30, message="the first cycle")

    def due_token() -> str | None:
        current = Robot.objects.get(pk=robot.pk).chain_token
        return current if current and due_tokens(redis_conn, robot) == [current] else None

    token = wait_for(due_token, message="the next cycle to be due")
    services.robot_stop(name=robot.name, actor=ADMIN)
    assert due_tokens(redis_conn, robot) == [] and not Job.exists(str(token), connection=redis_conn)
    count = RobotCycle.objects.filter(robot=robot).count()
    holds(lambda: RobotCycle.objects.filter(robot=robot).count() == count, seconds=5)
    # A job of the old chain delivered late (say, by a ticker that had already picked it) does nothing.
    late = Queue("robot", connection=redis_conn, serializer=SERIALIZER).enqueue("robot.jobs.run_cycle", robot.pk, token)
    wait_for(lambda: job_status(redis_conn, late.id) == "finished", message="the late job to run")
    assert RobotCycle.objects.filter(robot=robot).count() == count


def test_stop_then_start_in_quick_succession_leaves_one_chain(
    live_server: LiveServer, start_worker: StartWorker, start_sweeper: StartSweeper, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=f"{live_server.url}/api/demo/todos/", batch_size=2, interval=1)
    start_worker("robot")
    start_worker("records", pool=2)
    start_sweeper()
    services.robot_start(name=robot.name, actor=ADMIN)
    wait_for(lambda: finished_cycles(robot, 1), timeout=30, message="the first cycle")
    for _ in range(5):
        services.robot_stop(name=robot.name, actor=ADMIN)
        services.robot_start(name=robot.name, actor=ADMIN)
        time.sleep(0.1)  # let some of these land mid-cycle, some between cycles
    restarted_at = RobotCycle.objects.filter(robot=robot).count()
    wait_for(lambda: finished_cycles(robot, restarted_at + 4), timeout=40, message="four more cycles")
    services.robot_stop(name=robot.name, actor=ADMIN)
    wait_for(lambda: not RobotCycle.objects.filter(robot=robot, finished_at__isnull=True).exists(), timeout=20)
    done = list(RobotCycle.objects.filter(robot=robot).order_by("number"))
    later = done[restarted_at:]
    for previous, following in zip(later, later[1:], strict=False):
        assert following.started_at >= ended(previous) + timedelta(seconds=1)
    for previous, following in zip(done, done[1:], strict=False):
        assert following.started_at >= ended(previous)  # never overlapping, even across restarts
    assert len({cycle.job_id for cycle in done}) == len(done)
    # A job the ticker had already queued when stop came runs, finds its token gone, and ends.
    wait_for(lambda: chain_tokens(redis_conn, robot) == [], timeout=10, message="no job of the chain left")
    count = len(done)
    holds(lambda: RobotCycle.objects.filter(robot=robot).count() == count, seconds=2.5)


def test_concurrent_http_starts_from_threads_get_one_200_and_422_for_the_rest(
    live_server: LiveServer, redis_conn: redis.Redis
) -> None:
    robot = make_robot(source_url=f"{live_server.url}/api/demo/todos/")
    token = "t" * 40

    def start(_: int) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"timedelta": 5, "records": 5, "msg": "go", "rplstatus": "START"}
        return httpx.post(f"{live_server.url}/api/robots/r1/start/", json=body, headers=headers, timeout=30).status_code

    with override_settings(ROBOT_API_TOKEN=token), ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(start, range(8)))
    robot.refresh_from_db()
    assert statuses == [200] + [422] * 7
    assert chain_tokens(redis_conn, robot) == [robot.chain_token]


def test_real_workers_with_the_production_policy_refuse_loopback_and_send_named_secrets(
    stub: HttpStub, target: HttpStub, start_worker: StartWorker, tmp_path: Path
) -> None:
    stub.handler = demo_source
    target.handler = IdempotentTarget()
    port, target_port = (int(server.url.rsplit(":", 1)[1]) for server in (stub, target))
    inside = make_robot("inside", source_url=stub.url, batch_size=2, interval=60)
    keyed = make_robot(
        "keyed",
        source_url=f"http://localhost:{port}/",
        source_secret="ROBOT_SECRET_FEED",
        target_url=f"http://localhost:{target_port}/in",
        target_secret="ROBOT_SECRET_SINK",
        batch_size=2,
        interval=60,
    )
    env = {
        "ROBOT_OUTBOUND_POLICY": "public",
        "ROBOT_OUTBOUND_ALLOW": "localhost",
        "ROBOT_SECRET_FEED": "Bearer feed-secret-value",
        "ROBOT_SECRET_SINK": "X-Api-Key: sink-secret-value",
        "LOG_LEVEL": "DEBUG",
    }
    start_worker("robot", extra_env=env)
    start_worker("records", pool=1, extra_env=env)
    for robot in (inside, keyed):
        services.robot_start(name=robot.name, actor=ADMIN)
    (refused,) = wait_for(lambda: finished_cycles(inside, 1), timeout=30, message="the refused cycle")
    (cycle,) = wait_for(lambda: finished_cycles(keyed, 1), timeout=30, message="the keyed cycle")
    assert (refused.status, refused.error_code) == ("failed", "fetch_refused")
    assert (
        refused.error
        == "the source was refused: 127.0.0.1 is loopback; an operator may allow it in ROBOT_OUTBOUND_ALLOW"
    )
    assert (cycle.status, cycle.done) == ("finished", 2)
    assert [seen.headers["authorization"] for seen in stub.requests()] == ["Bearer feed-secret-value"]
    assert [seen.headers["x-api-key"] for seen in target.requests("POST")] == ["sink-secret-value"] * 2
    logs = "".join(path.read_text() for path in tmp_path.glob("worker-*.log"))
    assert "outbound connection refused host=127.0.0.1" in logs  # operators see what was refused, in the log
    assert "secret-value" not in logs
