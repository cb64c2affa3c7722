"""``make run`` as a whole, with real processes: a role that dies comes back by itself while the others run on;
Ctrl-C stops every role, then Redis, and exits 0."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_for
from tests.reliability.portal import ROLES, Portal, running_portal

pytestmark = [
    pytest.mark.slow,
    # make run's own database is the SQLite file in its var dir; a DATABASE_URL would be shared state.
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="make run test uses its own SQLite"),
]


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with running_portal(tmp_path) as portal:
        yield portal


@pytest.mark.parametrize("role", ["registrations", "web"])
def test_a_role_killed_9_is_back_within_10s_and_the_others_never_stop(portal: Portal, role: str) -> None:
    before = portal.role_pids()
    respawners = {name: process.pid for name, process in portal.respawners().items()}
    left_behind = psutil.Process(before[role]).children(recursive=True)  # RQ's scheduler, gunicorn's workers
    os.kill(before[role], signal.SIGKILL)
    killed_at = time.monotonic()

    def restarted() -> dict[str, int]:
        pids = portal.role_pids()
        return pids if pids.get(role) not in (None, before[role]) else {}

    after = wait_for(restarted, timeout=10, message=f"the {role} role to be started again")
    print(f"{role} role back after {time.monotonic() - killed_at:.1f}s")
    others = ROLES - {role}
    assert {name: after[name] for name in others} == {name: before[name] for name in others}
    assert {name: process.pid for name, process in portal.respawners().items()} == respawners
    assert left_behind and psutil.wait_procs(left_behind, timeout=5)[1] == []
    wait_for(portal.web_answers, timeout=10, message="web to answer")
    assert portal.launcher.poll() is None
    assert f"{role} exited (rc=137); restarting in 1s" in portal.log.read_text()


def test_ctrl_c_stops_every_role_and_redis_and_exits_0(portal: Portal) -> None:
    family = psutil.Process(portal.launcher.pid).children(recursive=True)
    portal.launcher.send_signal(signal.SIGINT)
    assert portal.launcher.wait(30) == 0
    gone, alive = psutil.wait_procs(family, timeout=5)
    assert alive == [] and len(gone) >= len(ROLES) + 1  # every role, its respawner, honcho and redis-server
    log = portal.log.read_text()
    assert "SIGINT received" in log and "restarting" not in log
