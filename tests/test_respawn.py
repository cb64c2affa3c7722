"""make run's restart policy: when a dead role starts again, and with which command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from asyncportal.respawn import FIRST_DELAY, MAX_DELAY, STABLE_AFTER, next_delay, role_command
from tests.conftest import BASE_DIR
from tests.helpers import wait_for


def test_the_first_restart_waits_one_second() -> None:
    assert next_delay(0, ran_for=0.1) == FIRST_DELAY == 1


def test_a_role_that_keeps_dying_waits_twice_as_long_each_time_up_to_the_cap() -> None:
    delays = [FIRST_DELAY]
    for _ in range(7):
        delays.append(next_delay(delays[-1], ran_for=0.5))
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30] and MAX_DELAY == 30


def test_a_role_that_ran_long_enough_starts_again_after_one_second() -> None:
    assert next_delay(MAX_DELAY, ran_for=STABLE_AFTER) == FIRST_DELAY


def test_the_command_is_read_from_the_procfile(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: gunicorn app\nrobot: python manage.py rqworker robot --worker-class x.Y\n")
    assert role_command(procfile, "robot") == "python manage.py rqworker robot --worker-class x.Y"
    with pytest.raises(SystemExit, match="no role 'ghost'"):
        role_command(procfile, "ghost")


def start_respawn(tmp_path: Path, command: str) -> tuple[subprocess.Popen[str], Path]:
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"worker: {command}\n")
    respawn = subprocess.Popen(
        [sys.executable, "-m", "asyncportal.respawn", str(procfile), "worker"],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as honcho gives each role
    )
    return respawn, procfile


def test_a_role_that_keeps_exiting_is_started_again_with_growing_delays(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    respawn, _ = start_respawn(tmp_path, f"echo start >> {starts}; exit 3")
    wait_for(lambda: starts.exists() and len(starts.read_text().split()) == 3, timeout=10, message="3 starts")
    os.killpg(respawn.pid, signal.SIGTERM)
    out, _ = respawn.communicate(timeout=5)
    # The third start's notice may or may not be out before the signal: the first two are certain.
    assert out.splitlines()[:2] == ["worker exited (rc=3); restarting in 1s", "worker exited (rc=3); restarting in 2s"]
    assert respawn.returncode == 3


def test_a_stop_signal_to_the_group_lets_the_role_finish_and_is_not_followed_by_a_restart(tmp_path: Path) -> None:
    respawn, _ = start_respawn(tmp_path, "trap 'echo finishing; exit 0' TERM; echo ready; while :; do sleep 0.1; done")
    assert respawn.stdout is not None and respawn.stdout.readline() == "ready\n"
    os.killpg(respawn.pid, signal.SIGTERM)
    out, _ = respawn.communicate(timeout=5)
    assert (out, respawn.returncode) == ("finishing\n", 0)
