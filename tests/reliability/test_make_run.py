"""``make run`` as a whole, with real processes: a role that dies comes back by itself while the others run on;
Ctrl-C stops every role, then Redis, and exits 0."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from honcho.environ import parse_procfile

from asyncportal.localredis import free_port
from tests.conftest import BASE_DIR
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.slow,
    # make run's own database is the SQLite file in its var dir; a DATABASE_URL would be shared state.
    pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="make run test uses its own SQLite"),
]
ROLES = set(parse_procfile((BASE_DIR / "Procfile").read_text()).processes)
SHELLS = {"sh", "dash", "bash"}


@dataclass
class Portal:
    """A running ``python -m asyncportal.launcher run`` in a throwaway var dir."""

    launcher: subprocess.Popen[bytes]
    port: int
    log: Path

    def respawners(self) -> dict[str, psutil.Process]:
        found = {}
        for process in psutil.Process(self.launcher.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "asyncportal.respawn" in process.cmdline():
                    found[process.cmdline()[-1]] = process
        return found

    def role_pids(self) -> dict[str, int]:
        """Return the pid of the process that is each role (below the shell its respawner runs it with)."""
        pids = {}
        for role, respawner in self.respawners().items():
            with contextlib.suppress(psutil.Error, IndexError):
                process = respawner.children()[0]
                while process.name() in SHELLS:
                    process = process.children()[0]
                pids[role] = process.pid
        return pids

    def web_answers(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
        return False


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    port = free_port()
    # Its own Redis, database and settings: nothing of this test run leaks into the child.
    unset = {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    child_env = {k: v for k, v in os.environ.items() if k not in unset}
    child_env |= {"VAR_DIR": str(tmp_path), "PORT": str(port), "WORKERS": "1", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "asyncportal.launcher", "run"],
            cwd=BASE_DIR,
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    portal = Portal(launcher=launcher, port=port, log=log)
    try:
        wait_for(lambda: portal.role_pids().keys() == ROLES and portal.web_answers(), timeout=45, message="all roles")
        yield portal
    finally:
        _stop(launcher)
        print(log.read_text()[-3000:])  # pytest shows it when the test failed: what the roles said last


def _stop(launcher: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the launcher if a test left it running; SIGKILL whatever of it is still there after that."""
    family: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        family = psutil.Process(launcher.pid).children(recursive=True)
    if launcher.poll() is None:
        launcher.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            launcher.wait(30)
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    if launcher.poll() is None:
        launcher.kill()
    launcher.wait(10)


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
