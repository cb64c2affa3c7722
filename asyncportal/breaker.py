"""A circuit breaker for the request path's Redis client: after a failure, fail at once for a while.

The enqueue deadline bounds what one submission waits for a hung Redis, but every submission still waits it:
with two sync web workers and a 0.25 s deadline, intake falls to 8 submissions a second while Redis hangs.
Once a call has timed out or found Redis gone, the next ones in this process raise ``ConnectionError`` at once
(the submission is stored pending, the sweeper enqueues it later) until ``OPEN_FOR`` has passed; then one call
tries Redis again.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from typing import Any

from redis import ConnectionError, TimeoutError
from redis.connection import AbstractConnection

OPEN_FOR = 2.0


class BreakerOpen(ConnectionError):
    """Raised without touching Redis: it failed moments ago (a ``ConnectionError``, so callers need not know)."""


class Breaker:
    """When the last failure of a Redis server was less than ``OPEN_FOR`` seconds ago: calls fail fast."""

    def __init__(self) -> None:
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise BreakerOpen("Redis failed moments ago; not trying again yet (circuit breaker open)")

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        try:
            yield
        except (ConnectionError, TimeoutError):
            self.open_until = time.monotonic() + OPEN_FOR
            raise


class _Guarded:
    """Mixed into a redis-py connection class: every connect, send and read goes through the breaker."""

    breaker: Breaker

    def __init__(self, *args: Any, breaker: Breaker, **kwargs: Any) -> None:
        self.breaker = breaker
        super().__init__(*args, **kwargs)

    def connect(self) -> None:
        self.breaker.check()
        with self.breaker.watch():
            super().connect()  # type: ignore[misc]

    def send_packed_command(self, *args: Any, **kwargs: Any) -> None:
        self.breaker.check()
        with self.breaker.watch():
            super().send_packed_command(*args, **kwargs)  # type: ignore[misc]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with self.breaker.watch():
            return super().read_response(*args, **kwargs)  # type: ignore[misc]


@functools.cache
def guarded(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """Return ``connection_class`` (plain TCP, TLS or unix socket) with the breaker in front of it."""
    return type(f"Guarded{connection_class.__name__}", (_Guarded, connection_class), {})
