"""The public demo feed: an endless, deterministic todo list the demo robot reads."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from asyncportal.numbers import bounded_int
from robot import services
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
