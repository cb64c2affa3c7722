"""Django's connection health check without its round trip while the connection is quiet.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request (and, through
``close_old_connections``, of every worker job) on a reused PostgreSQL connection: one more round trip than a
registration submission's own two, and one more than a one-record job's. A server that ended the connection
(restart, ``pg_terminate_backend``, idle timeout) says so on the socket before it closes it, so the socket of a
healthy idle connection has nothing to read. When it has something (or cannot be asked), Django's own check runs
as before; a silently vanished peer goes unnoticed either way until a query times out.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse


def skip_needless_health_checks() -> None:
    """Mark each open PostgreSQL connection whose socket is quiet as already checked for this request or job.

    Call after ``close_old_connections`` (it resets the mark): the records worker does, and for requests the
    middleware below runs after every ``request_started`` receiver, Django's included.
    """
    for conn in connections.all(initialized_only=True):
        # health_check_done is the flag Django's own check sets once it has run for a request.
        if conn.vendor != "postgresql" or conn.connection is None or conn.health_check_done:  # type: ignore[attr-defined]
            continue
        if _quiet(conn.connection):
            conn.health_check_done = True  # type: ignore[attr-defined]


def _quiet(raw: Any) -> bool:
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI)
        return not poller.poll(0)
    except (OSError, ValueError, AttributeError):
        return False  # closed, or not a socket we can ask: let Django check


class QuietConnectionMiddleware:
    """Skip the health check's round trip for a request whose database connection is quiet (see above)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        skip_needless_health_checks()
        return self.get_response(request)
