"""Issue 8's fault suite on the whole product (``make run``): Redis hung for 20 s, then Redis killed for 30 s and
started again on the same append-only file, while form and API submissions arrive and the demo robot runs.

Every submission is answered within a second, every registration is done and the robot finishes a new cycle
within a minute of Redis coming back, no two robot cycles overlap, and every role is running at the end.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil
import pytest
import requests

from asyncportal import localredis
from tests.helpers import wait_for
from tests.reliability.portal import ROLES, Portal, running_portal
from tests.reliability.traffic import Traffic, median, percentile

pytestmark = [
    pytest.mark.slow,
    # The outcome does not depend on the database; make run's own is the SQLite file in its var dir.
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="make run test uses its own SQLite"),
]
TOKEN = "outage-test-token"
ANSWER_P99 = 1.0
RECOVER_WITHIN = 60.0
MIN_SUBMISSIONS = 200
MIN_RATE = 10.0
BEFORE, AFTER = 3.0, 5.0


@dataclass
class Outage:
    """The portal under test and the Redis it uses now (the launcher's, or the one this test started again)."""

    portal: Portal
    redis_pid: int
    port: int
    data_dir: Path
    restarted: list[localredis.LocalRedis] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.portal.port}"

    def api(self, method: str, path: str, **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=10, **kwargs)  # type: ignore[arg-type]

    def restarts(self) -> dict[str, int]:
        log = self.portal.log.read_text(errors="replace")
        return {role: log.count(f"{role} exited (rc=") for role in sorted(ROLES)}


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    # The rate limiter stays in the path (it must fail open through both faults) with room for this volume.
    extra = {"ROBOT_API_TOKEN": TOKEN, "REGISTRATION_RATE_LIMIT": "100000/m", "SWEEP_INTERVAL": "2"}
    restarted: list[localredis.LocalRedis] = []
    try:
        with running_portal(tmp_path_factory.mktemp("outage"), extra) as portal:
            # redis-server rewrites its command line; the launcher prints where its Redis listens and keeps data.
            found = re.search(r"Redis: redis://127\.0\.0\.1:(\d+)/0 \(private, data in (.+)\)", portal.log.read_text())
            assert found, "the launcher did not start its own Redis"
            port, data_dir = int(found.group(1)), Path(found.group(2))
            outage = Outage(portal, portal.redis_server().pid, port, data_dir, restarted)
            started = outage.api("POST", "/api/robots/demo/start/", json={"timedelta": 1, "records": 5})
            assert started.status_code == 200, started.text
            wait_for(lambda: finished_cycles(outage, since=0), timeout=30, message="a first robot cycle")
            yield outage
    finally:
        # The launcher stopped its own Redis (or found it gone); a Redis this test started again is ours to stop.
        for again in restarted:
            again.stop()
    assert all(again.process.poll() is not None for again in restarted)


def cycles(outage: Outage) -> list[dict[str, object]]:
    response = outage.api("GET", "/api/robots/demo/cycles/", params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["cycles"])


def stamp(value: object) -> float:
    return datetime.fromisoformat(str(value)).timestamp()


def finished_cycles(outage: Outage, *, since: float) -> list[dict[str, object]]:
    """Return the cycles that started at or after ``since`` (epoch seconds) and have finished."""
    return [c for c in cycles(outage) if c["finished_at"] and stamp(c["started_at"]) >= since]


def assert_cycles_never_overlap(outage: Outage) -> None:
    ordered = sorted(cycles(outage), key=lambda cycle: int(str(cycle["number"])))
    numbers = [cycle["number"] for cycle in ordered]
    assert len(numbers) == len(set(numbers)), f"duplicate cycle numbers: {numbers}"
    for previous, current in zip(ordered, ordered[1:], strict=False):
        assert previous["finished_at"], f"cycle {previous['number']} still running while {current['number']} is"
        assert stamp(current["started_at"]) >= stamp(previous["finished_at"]), (previous, current)


def done_at(outage: Outage, ids: list[str]) -> dict[str, float]:
    """Return when each of ``ids`` that is done became done (epoch seconds), read from make run's database."""
    database = outage.portal.log.parent / "db.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as connection:
        rows = connection.execute(
            "SELECT id, updated_at FROM registration_registration WHERE status = 'done'"
        ).fetchall()
    wanted = {registration_id.replace("-", "") for registration_id in ids}
    return {row[0]: datetime.fromisoformat(f"{row[1]}+00:00").timestamp() for row in rows if row[0] in wanted}


def run_fault(outage: Outage, name: str, fault: Callable[[], None]) -> None:
    """Submit before, during and after ``fault`` (which returns once Redis is back), then check the recovery."""
    restarts_before = outage.restarts()
    with Traffic(outage.base_url, prefix=name.split()[1]) as traffic:
        time.sleep(BEFORE)  # Traffic runs for this long before the fault (and AFTER it): durations, not waits.
        fault_at = time.time()
        fault()
        back_at = time.time()
        time.sleep(AFTER)
    answers = traffic.answers
    stored = [answer.registration_id for answer in answers if answer.registration_id]
    done: dict[str, float] = {}

    def all_done() -> bool:
        done.update(done_at(outage, stored))
        return len(done) == len(stored)

    all_done_in_time = poll_until(all_done, back_at + RECOVER_WITHIN)
    resumed = poll_until(lambda: bool(finished_cycles(outage, since=back_at)), back_at + RECOVER_WITHIN)
    resumed_after = min(stamp(c["finished_at"]) for c in finished_cycles(outage, since=back_at)) - back_at
    latencies = [answer.latency for answer in answers]
    answered = [answer for answer in answers if answer.status in {202, 303}]
    during = sum(fault_at <= answer.sent_at < back_at for answer in answers) / (back_at - fault_at)
    statuses = collections.Counter(answer.status for answer in answers)
    to_done = max((at - back_at for at in done.values()), default=0.0)
    restarts = {role: count - restarts_before[role] for role, count in outage.restarts().items()}
    print(
        f"\n{name}: submissions={len(answers)} ({traffic.rate:.1f}/s, {during:.1f}/s in the fault) "
        f"answered={len(answered)} "
        f"p50={median(latencies):.3f}s p99={percentile(latencies, 0.99):.3f}s max={max(latencies):.3f}s "
        f"done={len(done)}/{len(stored)} max_to_done={max(to_done, 0):.1f}s robot_resumed={resumed_after:.1f}s "
        f"restarts={restarts} statuses={dict(statuses)}"
    )
    assert len(answers) >= MIN_SUBMISSIONS and min(traffic.rate, during) >= MIN_RATE
    assert [a for a in answers if a.status not in {202, 303}] == []
    assert len(stored) == len(answers)
    assert percentile(latencies, 0.99) <= ANSWER_P99
    assert all_done_in_time, f"{len(stored) - len(done)} registrations not done {RECOVER_WITHIN}s after Redis returned"
    assert resumed, f"the robot finished no cycle within {RECOVER_WITHIN}s of Redis returning"
    assert_cycles_never_overlap(outage)
    wait_for(lambda: outage.portal.role_pids().keys() == ROLES, timeout=RECOVER_WITHIN, message="every role")


def poll_until(predicate: Callable[[], bool], deadline: float) -> bool:
    while not predicate():
        if time.time() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_a_redis_hung_20s_loses_no_submission_and_everything_resumes(outage: Outage) -> None:
    def hang() -> None:
        os.kill(outage.redis_pid, signal.SIGSTOP)
        try:
            time.sleep(20)
        finally:
            os.kill(outage.redis_pid, signal.SIGCONT)

    run_fault(outage, "redis hung 20s", hang)


def test_a_redis_killed_for_30s_loses_no_submission_and_everything_resumes(outage: Outage) -> None:
    def kill_and_start_again() -> None:
        os.kill(outage.redis_pid, signal.SIGKILL)
        psutil.wait_procs([psutil.Process(outage.redis_pid)], timeout=5)
        time.sleep(30)
        server = localredis.start(outage.data_dir, persistent=True, port=outage.port)
        outage.restarted.append(server)
        outage.redis_pid = server.process.pid

    run_fault(outage, "redis killed 30s", kill_and_start_again)
