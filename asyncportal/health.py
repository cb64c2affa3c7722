"""Liveness and readiness probes, answered before host validation and the SSL redirect."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from asyncportal.queues import get_connection

logger = logging.getLogger(__name__)


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
        get_connection().ping()
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
                checks = readiness()
                ready = all(value == "ok" for value in checks.values())
                if not ready:
                    logger.warning("readiness failed checks=%s", checks)
                return JsonResponse(
                    {"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503
                )
        return self.get_response(request)
