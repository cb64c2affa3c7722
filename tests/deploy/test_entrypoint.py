"""deploy/entrypoint.sh, the one definition of the roles: each role execs its printed command (so SIGTERM reaches
the real process), and the Procfile only calls it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from asyncportal import queue_names, roles
from tests.deploy.helpers import DEPLOY, entrypoint_roles, procfile_roles

ENTRYPOINT = DEPLOY / "entrypoint.sh"
# Stands in for python and gunicorn: records its name, arguments and PID, exits with $FAKE_RC.
FAKE = """#!/bin/sh
printf '%s\\0' "$(basename "$0")" "$@" > "$FAKE_OUT"
echo $$ > "$FAKE_OUT.pid"
exit "${FAKE_RC:-0}"
"""


def run_entrypoint(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], int, list[str]]:
    """Run the entrypoint with fake programs; return (result, its PID, the argv a fake received or [])."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    for name in ("python", "gunicorn"):
        (fake_bin / name).write_text(FAKE)
        (fake_bin / name).chmod(0o755)
    out = tmp_path / "argv"
    proc = subprocess.Popen(
        [str(ENTRYPOINT), *args],
        env={"PATH": f"{fake_bin}:/usr/bin:/bin", "FAKE_OUT": str(out), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.communicate(timeout=30)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    argv = out.read_text().split("\0")[:-1] if out.exists() else []
    return result, proc.pid, argv


@pytest.mark.parametrize("role", [*roles.names(), "migrate"])
def test_role_execs_the_command_it_prints(role: str, tmp_path: Path) -> None:
    expected = roles.command(role, workers=3)
    result, pid, argv = run_entrypoint(tmp_path, role, WORKERS="3")
    assert result.returncode == 0, result.stderr
    assert argv == expected
    # Same PID: the shell replaced itself (exec), so a SIGTERM to PID 1 reaches gunicorn or rqworker.
    assert int((tmp_path / "argv.pid").read_text()) == pid


def test_the_procfile_calls_the_entrypoint_for_each_of_its_roles() -> None:
    assert procfile_roles() == {role: ["deploy/entrypoint.sh", role] for role in roles.names()}


def test_the_roles_run_the_commands_the_deployment_relies_on() -> None:
    assert entrypoint_roles() == {
        "web": ("gunicorn", "asyncportal.wsgi:application", "--config", "asyncportal/gunicorn.conf.py"),
        "registrations": (
            *("python", "manage.py", "rqworker", "registrations", "--with-scheduler"),
            *("--serializer", queue_names.SERIALIZER, "--worker-ttl", "60"),
            *("--worker-class", "asyncportal.workers.RecyclingSimpleWorker"),
        ),
        "robot": (
            *("python", "manage.py", "rqworker", "robot", "--serializer", queue_names.SERIALIZER, "--worker-ttl", "60"),
            *("--worker-class", "asyncportal.workers.RecyclingSimpleWorker"),
        ),
        "records": (
            *("python", "manage.py", "rqworker-pool", "records", "--num-workers", "2"),
            *("--serializer", queue_names.SERIALIZER, "--worker-class", "asyncportal.workers.RecyclingSimpleWorker"),
        ),
        "sweeper": ("python", "manage.py", "sweep"),
    }


def test_the_entrypoints_serializer_is_queue_names_serializer() -> None:
    assert f'readonly SERIALIZER="{queue_names.SERIALIZER}"\n' in ENTRYPOINT.read_text()


def test_records_pool_defaults_to_two_processes(tmp_path: Path) -> None:
    _, _, argv = run_entrypoint(tmp_path, "records")
    assert argv[argv.index("--num-workers") + 1] == "2"


def test_extra_arguments_are_passed_on(tmp_path: Path) -> None:
    _, _, argv = run_entrypoint(tmp_path, "registrations", "--verbosity", "2")
    assert argv[-2:] == ["--verbosity", "2"]


def test_migrate_and_manage_run_management_commands(tmp_path: Path) -> None:
    _, _, argv = run_entrypoint(tmp_path, "migrate")
    assert argv == ["python", "manage.py", "migrate", "--noinput"]
    _, _, argv = run_entrypoint(tmp_path, "manage", "createsuperuser", "--noinput")
    assert argv == ["python", "manage.py", "createsuperuser", "--noinput"]


def test_wait_for_migrations_returns_once_migrate_check_passes(tmp_path: Path) -> None:
    result, _, argv = run_entrypoint(tmp_path, "wait-for-migrations")
    assert result.returncode == 0
    assert argv == ["python", "manage.py", "migrate", "--check", "--noinput"]


def test_wait_for_migrations_gives_up_after_its_deadline(tmp_path: Path) -> None:
    result, _, _ = run_entrypoint(tmp_path, "wait-for-migrations", FAKE_RC="1", MIGRATION_WAIT_SECONDS="0")
    assert result.returncode == 1
    assert "migrations still unapplied" in result.stderr


@pytest.mark.parametrize("args", [(), ("worker",), ("--help",), ("--print",), ("--print", "ghost")])
def test_unknown_role_exits_64_and_starts_nothing(args: tuple[str, ...], tmp_path: Path) -> None:
    result, _, argv = run_entrypoint(tmp_path, *args)
    assert result.returncode == 64
    assert "usage: entrypoint.sh ROLE" in result.stderr
    assert argv == []


def test_entrypoint_is_strict_bash_and_executable() -> None:
    text = ENTRYPOINT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(ENTRYPOINT, os.X_OK)
    assert subprocess.run(["bash", "-n", str(ENTRYPOINT)], capture_output=True).returncode == 0
