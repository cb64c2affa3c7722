"""Fixtures that give tests the real parts: a live Redis, worker subprocesses, the test database's URL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from rq import Worker

from asyncportal import roles
from asyncportal.queue_names import SERIALIZER
from tests.deploy.helpers import entrypoint_roles
from tests.helpers import silent_redis_url, wait_for

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A URL whose server accepts connections and never answers, like a Redis stopped with SIGSTOP."""
    with silent_redis_url() as url:
        yield url


@pytest.fixture
def redis_conn() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture(autouse=True)
def _clean_redis(redis_conn: redis.Redis) -> Iterator[None]:
    """Delete RQ's and our keys around each test; other keys in the same Redis are left alone."""

    def clean() -> None:
        for pattern in ("rq:*", "asyncportal:*"):
            keys = list(redis_conn.scan_iter(match=pattern, count=1000))
            if keys:
                redis_conn.delete(*keys)

    clean()
    yield
    clean()


def database_url() -> str:
    """Return a URL for the database the tests use (pytest-django's test database)."""
    cfg = connection.settings_dict
    if cfg["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(cfg['NAME']).resolve()}"
    auth = quote(cfg["USER"] or "")
    if cfg.get("PASSWORD"):
        auth += ":" + quote(cfg["PASSWORD"])
    host = cfg["HOST"] or "127.0.0.1"
    port = cfg["PORT"] or 5432
    return f"postgres://{auth}@{host}:{port}/{cfg['NAME']}"


@pytest.fixture
def subprocess_env(transactional_db: None) -> dict[str, str]:
    """Environment for a subprocess that must see this test's database and Redis."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "asyncportal.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
    }


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM the process (a warm shutdown); after ``timeout`` SIGKILL its whole process group.

    Workers start in their own session, so the group holds a pool's children and the scheduler too: none of
    them outlives the test to keep working on the test Redis.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


StartWorker = Callable[..., subprocess.Popen[bytes]]


def role_worker_class(queue: str) -> str:
    """Return the ``--worker-class`` the entrypoint gives the role named ``queue`` ("" for RQ's default)."""
    return roles.option(list(entrypoint_roles().get(queue, ())), "--worker-class")


@pytest.fixture
def start_worker(subprocess_env: dict[str, str], redis_conn: redis.Redis, tmp_path: Path) -> Iterator[StartWorker]:
    """Start real ``manage.py rqworker`` (or ``rqworker-pool``) processes; each is stopped after the test.

    The worker class is the entrypoint's for the first queue's role unless ``worker_class`` says otherwise.
    """
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        *queues: str,
        pool: int = 0,
        scheduler: bool = False,
        extra_env: dict[str, str] | None = None,
        worker_class: str | None = None,
    ):
        before = len(Worker.all(connection=redis_conn))
        cmd = [sys.executable, str(BASE_DIR / "manage.py")]
        if pool:
            cmd += ["rqworker-pool", *queues, "--num-workers", str(pool)]
        else:
            cmd += ["rqworker", *queues, "--worker-ttl", "30"]
            if scheduler:
                cmd.append("--with-scheduler")
        cmd += ["--serializer", SERIALIZER]
        worker_class = role_worker_class(queues[0]) if worker_class is None else worker_class
        cmd += ["--worker-class", worker_class] if worker_class else []
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process.
        proc = subprocess.Popen(
            cmd,
            env={**subprocess_env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        expected = before + max(pool, 1)
        wait_for(
            lambda: proc.poll() is not None or len(Worker.all(connection=redis_conn)) >= expected,
            timeout=30,
            message=f"worker {cmd} to register",
        )
        assert proc.poll() is None, (tmp_path / f"worker-{len(procs) - 1}.log").read_text()
        return proc

    yield start
    for proc in procs:
        stop_process(proc)
