"""The robot benchmark's target: a keep-alive HTTP/1.1 server that reads the body and answers 200 at once.

Run: ``python -m bench.robot_sink [--server threading]`` (prints ``port N`` once listening).

The default is a minimal asyncio protocol, not ``http.server``: the sink shares the benchmark's two cores with
the workers it measures, and ``http.server`` parses each request's headers with the email parser (measured:
about four times the CPU per request), so a slow sink would be billed to the record pipeline. It understands
exactly what the robot's client sends (``Content-Length`` bodies, keep-alive, pipelining) and answers anything
else with 400 and a close. ``--server threading`` keeps the stdlib server for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BODY = b'{"ok": true}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024


class Sink(asyncio.Protocol):
    """Answer every complete request in the buffer with 200, headers and body in one write."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        answers = bytearray()
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            length = content_length(bytes(self.buffer[:end]))
            if length is None:
                self.transport.write(bytes(answers) + BAD)
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                break  # the body is still arriving
            del self.buffer[: end + 4 + length]
            answers += OK
        if len(self.buffer) > MAX_HEAD and self.buffer.find(b"\r\n\r\n") < 0:
            self.transport.write(bytes(answers) + BAD)
            self.transport.close()
            return
        if answers:
            self.transport.write(bytes(answers))


def content_length(head: bytes) -> int | None:
    """The request's body length (0 without the header); None for what this sink does not speak."""
    lines = head.split(b"\r\n")
    if not lines[0].endswith(b" HTTP/1.1"):
        return None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return None  # chunked bodies: the robot's client never sends them
        if name == b"content-length":
            return int(value.strip()) if value.strip().isdigit() else None
    return 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real target would allow
    # Headers and body in one segment, sent at once: otherwise Nagle meets the client's delayed ACK (40 ms).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: Any) -> None:
        return


async def serve_asyncio() -> None:
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--server", choices=("asyncio", "threading"), default="asyncio")
    if parser.parse_args().server == "threading":
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        print(f"port {server.server_address[1]}", flush=True)
        server.serve_forever()
    else:
        asyncio.run(serve_asyncio())
    return 0


if __name__ == "__main__":
    sys.exit(main())
