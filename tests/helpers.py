"""Polling helpers (tests wait for a condition with a deadline, never for a fixed time) and Redis stand-ins."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.conf import settings

T = TypeVar("T")
# A port where no Redis listens: connecting fails at once.
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"


def wait_for(predicate: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.05, message: str = "") -> T:
    """Return the first truthy value of ``predicate()``; fail the test when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate!r}; last={value!r}")
        time.sleep(interval)


@contextlib.contextmanager
def silent_redis_url() -> Iterator[str]:
    """Yield a URL whose server accepts connections and never answers, like a Redis stopped with SIGSTOP."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


def closed_redis_url() -> str:
    """Return a URL on a loopback port nobody listens on, like a Redis that is down."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{closed.getsockname()[1]}/0"


def queues_at(url: str = UNREACHABLE_REDIS_URL) -> dict[str, dict[str, Any]]:
    """``RQ_QUEUES`` as configured but with every queue at ``url`` (default: nobody listens), for override_settings."""
    return {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}
