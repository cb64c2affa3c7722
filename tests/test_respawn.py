"""make run's restart policy: when a dead role starts again, and with which command."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncportal.respawn import FIRST_DELAY, MAX_DELAY, STABLE_AFTER, next_delay, role_command


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
