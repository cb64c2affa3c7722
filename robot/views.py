"""The public demo feed (an endless, deterministic todo list the demo robot reads) and the robot metrics."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from ninja import Query
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from asyncportal.api import AppRouter, ErrorStyle, ascii_int
from asyncportal.apierrors import ApiError
from robot import services
from robot.metrics import RobotCollector
from robot.services.demo import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT

MAX_AFTER = 10**15
STYLE = ErrorStyle(invalid_status=400)
demo = AppRouter(style=STYLE, tags=["demo"])
Limit = Annotated[int, ascii_int(1, FEED_MAX_LIMIT, empty=FEED_DEFAULT_LIMIT)]
After = Annotated[int, ascii_int(0, MAX_AFTER, empty=0)]


@demo.get("demo/todos/", response={200: list[dict[str, Any]], **STYLE.responses(400, 404)}, url_name="demo-todos")
def demo_todos(
    request: HttpRequest,
    limit: Limit = Query(FEED_DEFAULT_LIMIT, ge=1, le=FEED_MAX_LIMIT),  # type: ignore[type-arg]
    after: After = Query(0, ge=0, le=MAX_AFTER),  # type: ignore[type-arg]
) -> list[dict[str, Any]]:
    """Todos ``after+1 …`` as a JSON array, at most the cap per call; 404 where ``ROBOT_DEMO_FEED`` is off.

    A ``limit`` above ``ROBOT_DEMO_FEED_MAX_ITEMS`` is served the cap, as a shorter page, so a robot asking for
    more records than that still runs, a page per cycle.
    """
    if not settings.ROBOT_DEMO_FEED:
        raise ApiError("not_found", "There is no demo feed here.", status=404)
    return services.demo_todos(limit=min(limit, settings.ROBOT_DEMO_FEED_MAX_ITEMS), after=after)


# Prometheus text, not JSON: a plain view outside the declared API.
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
