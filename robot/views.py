"""The public demo feed (an endless, deterministic todo list the demo robot reads) and the robot metrics."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from asyncportal.numbers import bounded_int
from robot import services
from robot.metrics import RobotCollector
from robot.services.demo import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT

MAX_AFTER = 10**15


@require_GET
def demo_todos(request: HttpRequest) -> JsonResponse:
    """``GET /api/demo/todos/?limit=N&after=ID``: todos ``after+1 …`` as a JSON array, at most the cap per call.

    404 where ``ROBOT_DEMO_FEED`` is off. A ``limit`` above ``ROBOT_DEMO_FEED_MAX_ITEMS`` is served the cap, as
    a shorter page, so a robot asking for more records than that still runs, a page per cycle.
    """
    if not settings.ROBOT_DEMO_FEED:
        missing = {"code": "not_found", "message": "There is no demo feed here."}
        return JsonResponse({"ok": False, "error": missing}, status=404)
    problems: dict[str, list[str]] = {}
    limit = _int(request.GET.get("limit"), FEED_DEFAULT_LIMIT, 1, FEED_MAX_LIMIT, "limit", problems)
    after = _int(request.GET.get("after"), 0, 0, MAX_AFTER, "after", problems)
    if problems:
        error = {"code": "invalid", "message": "Bad query parameters.", "fields": problems}
        return JsonResponse({"ok": False, "error": error}, status=400)
    served = min(limit, settings.ROBOT_DEMO_FEED_MAX_ITEMS)
    return JsonResponse(services.demo_todos(limit=served, after=after), safe=False)


def _int(raw: str | None, default: int, low: int, high: int, name: str, problems: dict[str, list[str]]) -> int:
    if raw is None or raw == "":
        return default
    value = bounded_int(raw, low=low, high=high)
    if value is None:
        problems[name] = [f"Must be an integer from {low} to {high}."]
        return default
    return value


@never_cache
@require_GET
def robot_metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics/robots/``: Prometheus text, for staff or ``Authorization: Bearer $RQ_API_TOKEN`` (the token
    that guards django-rq's queue metrics, so one scrape secret serves both)."""
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RobotCollector())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry), content_type=content_type)


def _metrics_refusal(request: HttpRequest) -> JsonResponse | None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = settings.RQ_API_TOKEN
        if token and secrets.compare_digest(given.strip().encode(), token.encode()):
            return None
    elif request.user.is_authenticated and request.user.is_staff:
        return None
    elif request.user.is_authenticated:
        return JsonResponse({"ok": False, "error": {"code": "forbidden", "message": "Staff only."}}, status=403)
    error = {"code": "unauthenticated", "message": "Log in as staff or send Authorization: Bearer <RQ_API_TOKEN>."}
    response = JsonResponse({"ok": False, "error": error}, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
