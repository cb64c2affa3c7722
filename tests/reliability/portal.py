"""``make run`` as a test fixture: the whole portal (launcher, honcho, every role, its own Redis) on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
from honcho.environ import parse_procfile

from asyncportal.localredis import free_port
from tests.conftest import BASE_DIR
from tests.helpers import wait_for

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

    def redis_server(self) -> psutil.Process:
        """Return the launcher's private ``redis-server``."""
        servers = [child for child in psutil.Process(self.launcher.pid).children() if "redis" in child.name()]
        assert len(servers) == 1, servers
        return servers[0]

    def web_answers(self) -> bool:
        url = f"http://127.0.0.1:{self.port}/healthz"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
        return False


@contextlib.contextmanager
def running_portal(var_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Portal]:
    """Run the launcher until every role runs and the web answers; stop it (and show its log's tail) after."""
    port = free_port()
    # Its own Redis, database and settings: nothing of this test run leaks into the child.
    unset = {"REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    child_env = {k: v for k, v in os.environ.items() if k not in unset}
    child_env |= {"VAR_DIR": str(var_dir), "PORT": str(port), "WORKERS": "1", "PYTHONUNBUFFERED": "1"}
    child_env |= extra_env or {}
    log = var_dir / "run.log"
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
        stop(launcher)
        print(log.read_text()[-3000:])  # pytest shows it when the test failed: what the roles said last


def stop(launcher: subprocess.Popen[bytes]) -> None:
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
