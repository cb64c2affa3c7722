"""Processes for the robot benchmark: workers and gunicorn as deploy/entrypoint.sh runs them, a sink, RSS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from asyncportal import env, roles
from asyncportal.queue_names import SERIALIZER

BASE_DIR = env.BASE_DIR
SIMPLE = "rq.worker.SimpleWorker"
RQ_DEFAULT = "rq.worker.Worker"


def role_worker_class() -> str:
    """Return the ``--worker-class`` of the entrypoint's ``records`` role, else RQ's default class."""
    return roles.option(roles.command("records"), "--worker-class") or RQ_DEFAULT


@contextmanager
def process(log_dir: Path, name: str, cmd: list[str], **extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``cmd`` in the background (output to ``<name>.log``); SIGTERM it, and wait, on the way out."""
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed below
    environ = {**os.environ, "PYTHONPATH": str(BASE_DIR), **extra_env}
    proc = subprocess.Popen(cmd, env=environ, stdout=log, stderr=subprocess.STDOUT, cwd=BASE_DIR)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def manage(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


def robot_worker(log_dir: Path) -> Any:
    """The entrypoint's ``robot`` role (the one definition of the roles)."""
    words = roles.command("robot")
    assert words[:2] == ["python", "manage.py"], words
    return process(log_dir, "robot", manage(*words[2:]))


def record_pool(log_dir: Path, workers: int, worker_class: str) -> Any:
    """The entrypoint's ``records`` role with ``worker_class``."""
    cmd = manage("rqworker-pool", "records", "--num-workers", str(workers), "--serializer", SERIALIZER)
    return process(log_dir, f"records-{workers}", [*cmd, "--worker-class", worker_class])


def sweeper(log_dir: Path) -> Any:
    return process(log_dir, "sweeper", manage("sweep"))


@contextmanager
def gunicorn(log_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The entrypoint's ``web`` role (2 workers)."""
    cmd = [sys.executable, "-m", "gunicorn", "asyncportal.wsgi:application", "--config", "asyncportal/gunicorn.conf.py"]
    with process(log_dir, "web", cmd, PORT=str(port), WEB_CONCURRENCY="2") as proc:
        yield proc


@contextmanager
def sink(log_dir: Path) -> Iterator[str]:
    """A keep-alive HTTP/1.1 target answering 200 at once, in its own process (no GIL shared with the bench)."""
    cmd = [sys.executable, "-m", "bench.robot_sink"]
    with process(log_dir, "sink", cmd):
        port_file = log_dir / "sink.log"
        found = wait(lambda: re.search(rb"port (\d+)", port_file.read_bytes()), 20, "the sink to listen")
        yield f"http://127.0.0.1:{int(found.group(1))}/in"


def peak_rss_mb(proc: subprocess.Popen[bytes], *, children_only: bool) -> float:
    """Return the highest peak RSS (VmHWM) among ``proc``'s descendants (and ``proc`` unless ``children_only``)."""
    try:
        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + ([] if children_only else [parent])
    except psutil.NoSuchProcess:
        return 0.0
    peaks = [_vm_hwm_kb(member.pid) for member in family]
    return max(peaks, default=0) / 1024


def _vm_hwm_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def wait(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)
    return value
