"""JSON API under /api/robots/ (and the prototype's /api/wstart, /api/wstop): parse, call one service, answer.

Auth: ``Authorization: Bearer <ROBOT_API_TOKEN>`` (no CSRF: nothing ambient), or a staff session (CSRF
enforced on unsafe methods, as for any form). Anonymous → 401, authenticated non-staff → 403.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from asyncportal import queues, strictjson
from asyncportal.numbers import bounded_int, exceeds
from robot import errors, selectors, services
from robot.errors import RobotError
from robot.models import Robot, RobotAudit
from robot.services import Actor
from robot.services import params as fields

logger = logging.getLogger(__name__)

STATUS = {
    errors.NOT_FOUND: 404,
    errors.ALREADY_RUNNING: 422,
    errors.INVALID: 422,
    errors.CYCLE_IN_PROGRESS: 409,
    errors.MALFORMED: 400,
    errors.TOO_LARGE: 413,
    errors.UNSUPPORTED_MEDIA_TYPE: 415,
}
MAX_BODY_BYTES = 64 * 1024
MAX_CYCLES_LIMIT = 500
JSON_CONTENT_TYPES = ("application/json",)

ApiView = Callable[..., JsonResponse]


def fail(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"ok": False, "error": {"code": code, "message": message, **extra}}, status=status)


def api_view(methods: list[str], source: str = RobotAudit.Source.API) -> Callable[[ApiView], Callable[..., Any]]:
    """Authenticate, map ``RobotError`` to its status and pass the view an ``Actor``."""

    def decorate(view: ApiView) -> Callable[..., Any]:
        @csrf_exempt
        @require_http_methods(methods)
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            actor_or_refusal = _authenticate(request, source)
            if isinstance(actor_or_refusal, JsonResponse):
                return actor_or_refusal
            try:
                return view(request, actor_or_refusal, *args, **kwargs)
            except RequestDataTooBig:
                # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) fires before ours can; same answer.
                return _error(RobotError(errors.TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes."))
            except RobotError as exc:
                return _error(exc)

        return wrapper

    return decorate


def _error(exc: RobotError) -> JsonResponse:
    return JsonResponse({"ok": False, "error": exc.as_dict()}, status=STATUS.get(exc.code, 400))


def _authenticate(request: HttpRequest, source: str) -> Actor | JsonResponse:
    remote_addr = request.META.get("REMOTE_ADDR") or None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = settings.ROBOT_API_TOKEN
        if token and secrets.compare_digest(given.strip().encode(), token.encode()):
            return Actor(source=source, label="api-token", remote_addr=remote_addr)
        return _unauthenticated("Invalid or disabled API token.")
    user = request.user
    if not user.is_authenticated:
        return _unauthenticated("Log in as staff or send Authorization: Bearer <token>.")
    if not user.is_staff:
        return fail(403, "forbidden", "Staff only.")
    safe = request.method in ("GET", "HEAD", "OPTIONS")
    if not user.has_perm("robot.view_robot" if safe else "robot.change_robot"):
        return fail(403, "forbidden", "Missing permission on robots.")
    if not safe and not _csrf_passes(request):
        return fail(403, "csrf_failed", "CSRF check failed: send the X-CSRFToken header with a session.")
    return Actor(source=source, user=user, remote_addr=remote_addr)


def _csrf_passes(request: HttpRequest) -> bool:
    """Run Django's own CSRF check (the views are exempt from the middleware because of bearer auth)."""
    return CsrfViewMiddleware(_no_response).process_view(request, _no_response, (), {}) is None


def _no_response(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def _unauthenticated(message: str) -> JsonResponse:
    response = fail(401, "unauthenticated", message)
    response["WWW-Authenticate"] = 'Bearer realm="robots"'
    return response


def json_body(request: HttpRequest) -> dict[str, Any]:
    """Return the JSON object body ({} when empty); 413 too large, 415 another media type, 400 malformed."""
    if exceeds(request.META.get("CONTENT_LENGTH") or "", MAX_BODY_BYTES):
        # Refuse by the declared length before reading the body into memory.
        raise RobotError(errors.TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes.")
    if not request.body:
        return {}
    if len(request.body) > MAX_BODY_BYTES:
        raise RobotError(errors.TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes.")
    if request.content_type not in JSON_CONTENT_TYPES:
        raise RobotError(errors.UNSUPPORTED_MEDIA_TYPE)
    try:
        data = strictjson.loads(request.body)
    except (ValueError, RecursionError) as exc:
        raise RobotError(errors.MALFORMED, f"Malformed JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise RobotError(errors.MALFORMED)
    return data


def _chain(robot: Robot) -> JsonResponse:
    next_run_at = robot.next_run_at.isoformat() if robot.next_run_at else None
    body = {"ok": True, "state": robot.state, "job_id": robot.chain_token or None, "queue": queues.ROBOT}
    return JsonResponse({**body, "next_run_at": next_run_at})


def _stop_now(data: dict[str, Any]) -> bool:
    now = data.get("now", False)
    unknown = set(data) - {"now"}
    if not isinstance(now, bool) or unknown:
        problems = {"now": ["Must be true or false."]} if not isinstance(now, bool) else {}
        raise RobotError(errors.INVALID, fields={**problems, **{name: ["Unknown field."] for name in unknown}})
    return now


@api_view(["GET", "PUT"])
def robot_detail(request: HttpRequest, actor: Actor, name: str) -> JsonResponse:
    if request.method == "PUT":
        values = services.clean_values(json_body(request), fields.EDITABLE)
        robot, created = services.robot_save(name=name, values=values, actor=actor)
        return JsonResponse({"ok": True, **selectors.robot_status(robot)}, status=201 if created else 200)
    return JsonResponse({"ok": True, **selectors.robot_status(selectors.robot_get(name))})


@api_view(["GET"])
def robot_cycles(request: HttpRequest, actor: Actor, name: str) -> JsonResponse:
    limit = bounded_int(request.GET.get("limit", "20"), low=1, high=MAX_CYCLES_LIMIT)
    if limit is None:
        raise RobotError(errors.INVALID, fields={"limit": [f"Must be an integer from 1 to {MAX_CYCLES_LIMIT}."]})
    cycles = selectors.robot_cycles(selectors.robot_get(name), limit=limit)
    return JsonResponse({"ok": True, "cycles": cycles})


@api_view(["POST"])
def robot_start(request: HttpRequest, actor: Actor, name: str) -> JsonResponse:
    values = services.clean_values(json_body(request), fields.START)
    return _chain(services.robot_start(name=name, values=values, actor=actor))


@api_view(["POST"])
def robot_stop(request: HttpRequest, actor: Actor, name: str) -> JsonResponse:
    return _chain(services.robot_stop(name=name, now=_stop_now(json_body(request)), actor=actor))


@api_view(["POST"])
def robot_run(request: HttpRequest, actor: Actor, name: str) -> JsonResponse:
    json_body(request)
    return _chain(services.robot_run_once(name=name, actor=actor))


@api_view(["POST"])
def robot_cycle_retry(request: HttpRequest, actor: Actor, name: str, number: int) -> JsonResponse:
    """Re-deliver the cycle's failed records in a retry cycle: 202 with how many, 200 with 0 when none failed."""
    json_body(request)
    retried = services.cycle_retry_failed(name=name, number=number, actor=actor)
    body = {"ok": True, "retry_of": retried.retry_of, "cycle": retried.cycle, "requeued": retried.requeued}
    return JsonResponse(body, status=202 if retried.requeued else 200)


@api_view(["GET", "POST"], source=RobotAudit.Source.LEGACY_API)
def legacy_wstart(request: HttpRequest, actor: Actor) -> JsonResponse:
    name = settings.DEFAULT_ROBOT
    if request.method == "POST":
        values = services.clean_values(json_body(request), fields.START)
        return _chain(services.robot_start(name=name, values=values, actor=actor))
    robot = selectors.robot_get(name)
    found = selectors.chain_job_found(robot)
    return JsonResponse(
        {"ok": True, "robot": name, "state": robot.state, "job_id": robot.chain_token or None, "status": found}
    )


@api_view(["DELETE"], source=RobotAudit.Source.LEGACY_API)
def legacy_wstop(request: HttpRequest, actor: Actor) -> JsonResponse:
    now = _stop_now(json_body(request))
    return _chain(services.robot_stop(name=settings.DEFAULT_ROBOT, now=now, actor=actor))
