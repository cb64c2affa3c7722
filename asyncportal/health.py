"""Liveness and readiness probes, answered before host validation and the SSL redirect."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from asyncportal.queues import get_connection

logger = logging.getLogger(__name__)

# Seconds the Redis check may take: a hung Redis must fail the probe, not outlast the probe's own timeout.
REDIS_DEADLINE = 1.0


def readiness() -> dict[str, str]:
    """Return ``{"database": "ok" | error, "redis": "ok" | error}``."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the reason is reported.
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_connection(deadline=REDIS_DEADLINE).ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    return checks


class HealthCheckMiddleware:
    """Answer ``/healthz`` (alive, touches nothing) and ``/readyz`` (database and Redis reachable)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD"):
            if request.path == "/healthz":
                return JsonResponse({"status": "ok"})
            if request.path == "/readyz":
                return readyz_response()
        return self.get_response(request)


def readyz_response() -> JsonResponse:
    """Return 200 when every check in ``READINESS_REQUIRED`` passes, else 503; the body names each check.

    A failing check that is not required (e.g. Redis, when an operator keeps web pods serving through a Redis
    outage because submissions are stored and swept later) makes the status "degraded", still 200.
    """
    checks = readiness()
    failing = sorted(name for name, value in checks.items() if value != "ok")
    ready = not set(failing) & set(settings.READINESS_REQUIRED)
    if failing:
        logger.warning("readiness checks failing=%s", ",".join(failing))
    status = "fail" if not ready else ("degraded" if failing else "ok")
    response = JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)
    # Logged above once, as a warning; keep django.request from logging every probe at ERROR as well.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
