"""Test doubles and fixtures for robot tests: a programmable HTTP stub (source or target), robots, processes.

Imported by tests/robot/conftest.py and by tests/reliability/test_robot_*.py (fixtures are plain functions).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil
import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from rq.job import Job
from rq.queue import Queue

from robot.models import Robot, RobotCycle
from robot.services import demo
from tests.conftest import stop_process


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    delay: float = 0.0
    wait: threading.Event | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Reply]


class HttpStub:
    """A real HTTP server on loopback; ``handler`` decides each reply; every request is recorded."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.handler: Handler = lambda seen: Reply(body=[])
        self.lock = threading.Lock()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                    at=time.time(),
                )
                with stub.lock:
                    stub.seen.append(seen)
                reply = stub.handler(seen)
                if reply.wait is not None:
                    reply.wait.wait(60)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def requests(self, method: str = "") -> list[Seen]:
        with self.lock:
            return [seen for seen in self.seen if not method or seen.method == method]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_source(seen: Seen) -> Reply:
    """Serve the demo feed (honours limit/after) like the portal's own /api/demo/todos/."""
    limit = int(seen.query.get("limit", "20"))
    after = int(seen.query.get("after", "0"))
    return Reply(body=demo.demo_todos(limit=limit, after=after))


class IdempotentTarget:
    """A well-behaved target: answers per key from ``script`` and applies each Idempotency-Key at most once."""

    def __init__(self, script: dict[str, list[int]] | None = None, delay: float = 0.0) -> None:
        self.script = script or {}
        self.delay = delay
        self.calls: dict[str, int] = {}
        self.accepted: dict[str, int] = {}
        self.hold: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def __call__(self, seen: Seen) -> Reply:
        key = seen.headers.get("idempotency-key", "")
        with self.lock:
            index = self.calls.get(key, 0)
            self.calls[key] = index + 1
            statuses = self.script.get(key, [200])
            status = statuses[min(index, len(statuses) - 1)]
            if 200 <= status < 300:
                self.accepted[key] = self.accepted.get(key, 0) + 1
        return Reply(status=status, body={"ok": True}, delay=self.delay, wait=self.hold.get(key))

    @property
    def effects(self) -> set[str]:
        """Keys the target applied; a repeated key is recognised and not applied again."""
        return set(self.accepted)


def _http_stub() -> Iterator[HttpStub]:
    """A fresh HttpStub for one test, closed after it."""
    server = HttpStub()
    yield server
    server.close()


# One kind of server under two names, so a test can have a robot's source and its target side by side.
stub = pytest.fixture(_http_stub, name="stub")
target = pytest.fixture(_http_stub, name="target")


def make_robot(name: str = "r1", *, source_url: str, **values: Any) -> Robot:
    defaults: dict[str, Any] = {"batch_size": 5, "interval": 1}
    return Robot.objects.create(name=name, source_url=source_url, **{**defaults, **values})


def cycles(robot: Robot) -> list[RobotCycle]:
    return list(RobotCycle.objects.filter(robot=robot).order_by("number"))


def finished_cycles(robot: Robot, count: int) -> list[RobotCycle]:
    """Return the robot's finished cycles once there are ``count`` of them (empty before: keep waiting)."""
    done = list(RobotCycle.objects.filter(robot=robot, finished_at__isnull=False).order_by("number"))
    return done if len(done) >= count else []


def ended(cycle: RobotCycle) -> datetime:
    assert cycle.finished_at is not None
    return cycle.finished_at


def chain_jobs(conn: redis.Redis, robot: Robot) -> list[str]:
    """Return the robot-queue job ids of ``robot`` that may still start a cycle (queued, scheduled, started)."""
    prefix = f"robot-{robot.pk}-"
    queue = Queue("robot", connection=conn)
    ids = set(queue.get_job_ids()) | set(queue.scheduled_job_registry.get_job_ids())
    ids |= set(queue.started_job_registry.get_job_ids())
    return sorted(job_id for job_id in ids if job_id.startswith(prefix))


def job_status(conn: redis.Redis, job_id: str) -> str | None:
    raw = conn.hget(Job.key_for(job_id), "status")
    return raw.decode() if isinstance(raw, bytes) else raw


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and every process it forked (work horses, pool children, scheduler): a pod kill."""
    parent = psutil.Process(proc.pid)
    family = [*parent.children(recursive=True), parent]
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(signal.SIGKILL)
    psutil.wait_procs(family, timeout=10)
    proc.wait(10)


StartSweeper = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_sweeper(subprocess_env: dict[str, str], tmp_path: Path) -> Iterator[StartSweeper]:
    """Start the real sweeper process (``manage.py sweep``) with a short interval."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**subprocess_env, "SWEEP_INTERVAL": "1", **(extra_env or {})}
        log = open(tmp_path / f"sweeper-{len(procs)}.log", "wb")  # noqa: SIM115 - closed with the process.
        cmd = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "sweep"]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_process(proc)


class DripServer:
    """A raw HTTP/1.1 server on loopback that answers late and drips its body; keeps connections alive.

    ``plan`` sets how long before the headers and the gap between body bytes; ``connections`` counts accepted
    sockets, ``in_flight``/``max_in_flight`` count requests being answered per Idempotency-Key.
    """

    def __init__(self) -> None:
        self.header_delay = 0.0
        self.body = b"{}"
        self.byte_interval = 0.0
        self.status = 200
        self.script: list[tuple[float, bytes, float, int]] = []  # one plan per request, then ``plan``'s
        self.connections = 0
        self.requests: list[tuple[str, float]] = []
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def plan(self, *, header_delay: float, body: bytes, byte_interval: float, status: int = 200) -> None:
        self.header_delay, self.body, self.byte_interval, self.status = header_delay, body, byte_interval, status

    def close(self) -> None:
        self.closed.set()
        self.thread.join(2)
        self.sock.close()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self.closed.is_set():
                request_line = reader.readline()
                if not request_line:
                    return
                headers: dict[str, str] = {}
                while (line := reader.readline().decode("latin-1").strip()) != "":
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                reader.read(int(headers.get("content-length", "0")))
                self._answer(conn, headers.get("idempotency-key", ""))
        except OSError:
            return
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, key: str) -> None:
        with self.lock:
            self.requests.append((key, time.time()))
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight[key])
            plan = (
                self.script.pop(0) if self.script else (self.header_delay, self.body, self.byte_interval, self.status)
            )
        header_delay, body, byte_interval, status = plan
        try:
            time.sleep(header_delay)
            head = f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
            if not byte_interval:
                conn.sendall(body)
            for index in range(len(body) if byte_interval else 0):
                time.sleep(byte_interval)
                conn.sendall(body[index : index + 1])
        finally:
            with self.lock:
                self.in_flight[key] -= 1


@pytest.fixture
def drip() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.close()


def due_tokens(conn: redis.Redis, robot: Robot) -> list[str]:
    """Return the chain tokens of ``robot`` waiting in the ticker's due set (cycles scheduled for later)."""
    from robot.services.queueing import DUE_KEY

    prefix = f"{robot.pk}:"
    found: Any = conn.zrange(DUE_KEY, 0, -1)
    members = [raw.decode() for raw in found]
    return sorted(member.removeprefix(prefix) for member in members if member.startswith(prefix))


def chain_tokens(conn: redis.Redis, robot: Robot) -> list[str]:
    """Return every token of ``robot`` that may still start a cycle: due later, queued or started."""
    return sorted(set(chain_jobs(conn, robot)) | set(due_tokens(conn, robot)))


def deliver_queued(robot: Robot) -> None:
    """Run the robot's queued records in-process, as a record worker would (no target: each becomes done)."""
    from robot.models import ProcessedRecord
    from robot.services import records_process

    pairs = ProcessedRecord.objects.filter(robot=robot, status=ProcessedRecord.Status.QUEUED)
    records_process(pairs=list(pairs.values_list("pk", "dispatch")))


@pytest.fixture
def boss() -> Client:
    """A client logged in as the superuser "boss" (the name the admin's audit entries show)."""
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw"))
    return client
