"""A source and a target that misbehave on purpose, one behaviour per path (real sockets on loopback)."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

Behaviour = Callable[[BaseHTTPRequestHandler, dict[str, str]], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, length: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else 0


def _page(query: dict[str, str], extra: list[Any] | None = None) -> list[Any]:
    limit = _int(query.get("limit", "20"))
    after = _int(query.get("after", "0"))
    return [{"id": n, "title": f"t{n}"} for n in range(after + 1, after + limit + 1)] + (extra or [])


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


class _Served:
    """A loopback server whose paths name behaviours."""

    httpd: ThreadingHTTPServer

    def url(self, behaviour: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{behaviour}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class HostileServer(_Served):
    """Serves ``/<behaviour>`` paths; ``hold`` is how long the slow behaviours take (past any deadline)."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                name = parts.path.strip("/")
                with server.lock:
                    server.hits[name] = server.hits.get(name, 0) + 1
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    getattr(server, f"_{name.replace('-', '_')}")(self, query)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _serve(Handler)

    # Behaviours. Each names the failure a real web service shows.
    def _good(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        _send(handler, 200, json.dumps(_page(query)).encode())

    def _timeout(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        time.sleep(self.hold)

    def _slow_headers(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        time.sleep(self.hold * 0.45)
        handler.send_response(200)
        handler.send_header("Content-Length", "2")
        handler.end_headers()
        time.sleep(self.hold * 0.45)
        handler.wfile.write(b"[]")

    def _drip(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        body = json.dumps(_page(query)).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        per_byte = self.hold / len(body)
        for index in range(len(body)):
            handler.wfile.write(body[index : index + 1])
            handler.wfile.flush()
            time.sleep(per_byte)

    def _error(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        _send(handler, 500, b'{"error": "boom"}')

    def _not_json(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        _send(handler, 200, b"<html>maintenance</html>")

    def _huge(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        handler.send_response(200)
        handler.end_headers()  # no Content-Length: the cap must hold while reading
        chunk = b'{"id": 1, "pad": "' + b"x" * 65_000 + b'"},'
        handler.wfile.write(b"[")
        for _ in range(50 * 1024 * 1024 // len(chunk)):
            handler.wfile.write(chunk)

    def _closed_mid_body(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        body = json.dumps(_page(query)).encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True

    def _no_ids(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        odd: list[Any] = [{"title": "no id"}, {"id": None}, {"id": True}, "text", {"id": ""}]
        limit = int(query.get("limit", "20")) - len(odd)
        _send(handler, 200, json.dumps(_page({**query, "limit": str(limit)}, odd)).encode())

    def _poison(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        poison = '[{"id": "--1"}, {"id": "\\u00b2"}, {"id": "\\ud800"}, {"id": 9001, "v": NaN}, {"id": "x\\u0000"}'
        after = _int(query.get("after", "0"))
        good = ", ".join(f'{{"id": {n}}}' for n in range(after + 1, after + 6))
        _send(handler, 200, f"{poison}, {good}]".encode())

    def _greedy(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        start = _int(query.get("after", "0"))
        items = [{"id": n} for n in range(start + 1, 51)]  # ignores limit, honours after: 50 items in all
        _send(handler, 200, json.dumps(items).encode())


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    server = HostileServer(hold=6.0)
    yield server
    server.close()


class HostileTarget(_Served):
    """A target whose first answer per Idempotency-Key misbehaves by path; later ones are 200.

    ``max_in_flight`` is the most requests of one key being answered at once: a request counts until its
    client hangs up or the answer is written, so a delivery the robot cut off no longer counts.
    """

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.calls: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight = 0
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key", "")
                behaviour = urlsplit(self.path).path.strip("/")
                with target.lock:
                    first = target.calls.get(key, 0) == 0
                    target.calls[key] = target.calls.get(key, 0) + 1
                    target.in_flight[key] = target.in_flight.get(key, 0) + 1
                    target.max_in_flight = max(target.max_in_flight, target.in_flight[key])
                try:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        target._answer(self, behaviour, first)
                finally:
                    with target.lock:
                        target.in_flight[key] -= 1

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = _serve(Handler)

    def _answer(self, handler: BaseHTTPRequestHandler, behaviour: str, first: bool) -> None:
        if behaviour == "reject":
            _send(handler, 400, b'{"error": "invalid"}')
        elif not first or behaviour == "fine":
            _send(handler, 200, b'{"ok": true}')
        elif behaviour == "flaky":
            _send(handler, 500, b'{"error": "try later"}')
        elif behaviour == "slow":
            self._wait_or_hang_up(handler, self.hold)
        elif behaviour == "drip":
            self._wait_or_hang_up(handler, self.hold * 0.3)
            handler.send_response(200)
            handler.send_header("Content-Length", "200")
            handler.end_headers()
            for _ in range(200):
                handler.wfile.write(b" ")
                handler.wfile.flush()
                if self._wait_or_hang_up(handler, self.hold / 100):
                    return

    @staticmethod
    def _wait_or_hang_up(handler: BaseHTTPRequestHandler, seconds: float) -> bool:
        """Wait ``seconds`` unless the client hangs up first; return whether it did."""
        sock = handler.connection
        readable, _, _ = select.select([sock], [], [], seconds)
        if readable:
            with contextlib.suppress(OSError):
                return bool(sock.recv(1, socket.MSG_PEEK) == b"")
        return False


@pytest.fixture
def hostile_target() -> Iterator[HostileTarget]:
    server = HostileTarget(hold=6.0)
    yield server
    server.close()
