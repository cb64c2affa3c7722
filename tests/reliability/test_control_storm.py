"""Many operators at once through two web processes: exactly one chain, no overlapping cycles, and no cycle
starts after a stop returned (unless a later start asked for it)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from asyncportal import queues
from asyncportal.localredis import free_port
from robot import services
from robot.models import Robot, RobotCycle
from tests.conftest import StartWorker, stop_process
from tests.helpers import wait_for
from tests.robot.support import HttpStub, StartSweeper, demo_source, due_tokens, make_robot, start_sweeper, stub

__all__ = ["start_sweeper", "stub"]
pytestmark = pytest.mark.slow
TOKEN = "storm-token"
OPS = ("start", "stop", "stop-now", "run")


@dataclass(frozen=True)
class Op:
    name: str
    sent: float
    returned: float
    status: int


@pytest.fixture
def web(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """gunicorn with two worker processes on a free port, against this test's database and Redis."""
    port = free_port()
    env = {**subprocess_env, "PORT": str(port), "WEB_CONCURRENCY": "2", "ROBOT_API_TOKEN": TOKEN}
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "asyncportal.wsgi:application"]
    cmd += ["--config", str(Path(settings.BASE_DIR) / "asyncportal" / "gunicorn.conf.py")]
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115 - closed with the process.
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _ok(f"{url}/healthz"), timeout=30, message="gunicorn to answer")
    yield url
    stop_process(proc)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def call(client: httpx.Client, url: str, op: str) -> Op:
    path = "run" if op == "run" else op.replace("stop-now", "stop")
    body = {"now": True} if op == "stop-now" else ({"timedelta": 1} if op == "start" else {})
    sent = time.time()
    response = client.post(f"{url}/api/robots/r1/{path}/", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    return Op(op, sent, time.time(), response.status_code)


def test_fifty_concurrent_starts_then_two_hundred_random_operations_keep_one_chain(
    web: str, stub: HttpStub, start_worker: StartWorker, start_sweeper: StartSweeper
) -> None:
    stub.handler = demo_source
    robot = make_robot(source_url=stub.url, batch_size=3, interval=1, chunk_size=3)
    env = {"SWEEP_INTERVAL": "1"}
    start_sweeper(env)
    start_worker("robot", extra_env=env)
    start_worker("records", pool=1, extra_env=env)

    barrier = threading.Barrier(50)
    starts: list[Op] = []

    def start_once() -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            starts.append(call(client, web, "start"))

    threads = [threading.Thread(target=start_once) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(op.status for op in starts) == [200] + [422] * 49

    log: list[Op] = []
    lock = threading.Lock()

    def operator(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=30) as client:
            for _ in range(50):
                op = call(client, web, rng.choice(OPS))
                with lock:
                    log.append(op)
                time.sleep(rng.uniform(0, 0.15))  # Pacing: an operator's random think time.

    operators = [threading.Thread(target=operator, args=(seed,)) for seed in range(4)]
    for thread in operators:
        thread.start()
    for thread in operators:
        thread.join(120)
    assert len(log) == 200 and all(op.status in (200, 409, 422) for op in log), {op.status for op in log}
    final_stop = call(httpx.Client(timeout=30), web, "stop")
    log.append(final_stop)
    wait_for(lambda: not RobotCycle.objects.filter(robot=robot, finished_at__isnull=True).exists(), timeout=60)

    cycles = list(RobotCycle.objects.filter(robot=robot).order_by("number"))
    for before, after in zip(cycles, cycles[1:], strict=False):
        assert before.finished_at is not None and after.started_at >= before.finished_at, (before, after)
    stops = [op for op in log if op.name in ("stop", "stop-now") and op.status == 200]
    goes = [op for op in log if op.name in ("start", "run") and op.status == 200] + [
        s for s in starts if s.status == 200
    ]
    late = [
        cycle.number
        for cycle in cycles
        for stop in stops
        if stop.returned < cycle.started_at.timestamp()
        and not any(go.returned > stop.sent and go.sent < cycle.started_at.timestamp() for go in goes)
    ]
    robot.refresh_from_db()
    due = due_tokens(queues.get_connection(), robot)
    print(
        f"control storm: starts=50 ok={sum(op.status == 200 for op in starts)} ops={len(log)} "
        f"ok={sum(op.status == 200 for op in log)} cycles={len(cycles)} late={late} due_after_stop={due}"
    )
    assert late == []
    assert (robot.state, robot.chain_token) == (Robot.State.STOPPED, "")
    # A start's after-commit ZADD can land after a later stop's ZREM (two processes): such a leftover token is
    # stale. Let the ticker run it out, then no cycle may have started after the final stop.
    wait_for(lambda: not due_tokens(queues.get_connection(), robot), timeout=15, message="leftover due tokens")
    wait_for(lambda: queues.get_queue(queues.ROBOT).count == 0, timeout=15, message="the robot queue to drain")
    after_stop = RobotCycle.objects.filter(robot=robot, started_at__gt=datetime.fromtimestamp(final_stop.returned, UTC))
    assert list(after_stop.values_list("number", flat=True)) == []
    assert services.robot_start(name="r1", actor=services.SYSTEM).chain_token  # and it starts cleanly again
