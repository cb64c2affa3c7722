"""JSON API under /api/robots/ (and the prototype's /api/wstart, /api/wstop): parse, call one service, answer.

Auth: ``Authorization: Bearer <ROBOT_API_TOKEN>`` (no CSRF: nothing ambient), or a staff session with
``robot.view_robot`` (reads) or ``robot.change_robot`` (changes; CSRF enforced, as for any form).
Anonymous → 401, authenticated without the permission → 403. Bodies, types and errors: asyncportal/api.py.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Path, Query, Schema, Status
from ninja.security import HttpBearer
from ninja.utils import check_csrf
from pydantic import BaseModel, ConfigDict

from asyncportal import queues
from asyncportal.api import AppRouter, ErrorStyle, ascii_int
from asyncportal.apierrors import ApiError
from robot import selectors, services
from robot.models import Robot, RobotAudit
from robot.services import Actor
from robot.services.params import RobotIn, StartIn, StopIn, model_values

MAX_CYCLES_LIMIT = 500
STYLE = ErrorStyle(invalid_status=422)
CyclesLimit = Annotated[int, ascii_int(1, MAX_CYCLES_LIMIT)]
# A slug, as the URL pattern takes; the example lets the schema fuzzer reach a robot that exists.
RobotName = Annotated[str, Path(pattern=r"^[-a-zA-Z0-9_]+$", examples=["demo"])]
ERRORS = STYLE.responses(400, 401, 403, 404, 409, 413, 415, 422)


class RobotAuth(HttpBearer):
    """The robot token, or a staff session with the robot permission (CSRF on unsafe methods)."""

    def __call__(self, request: HttpRequest) -> Actor:
        remote_addr = request.META.get("REMOTE_ADDR") or None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            token = settings.ROBOT_API_TOKEN
            if token and secrets.compare_digest(given.strip().encode(), token.encode()):
                return Actor(source=RobotAudit.Source.API, label="api-token", remote_addr=remote_addr)
            raise _unauthenticated("Invalid or disabled API token.")
        user = request.user
        if not user.is_authenticated:
            raise _unauthenticated("Log in as staff or send Authorization: Bearer <token>.")
        if not user.is_staff:
            raise ApiError("forbidden", "Staff only.", status=403)
        safe = request.method in ("GET", "HEAD", "OPTIONS")
        if not user.has_perm("robot.view_robot" if safe else "robot.change_robot"):
            raise ApiError("forbidden", "Missing permission on robots.", status=403)
        if not safe and check_csrf(request) is not None:
            raise ApiError("csrf_failed", "CSRF check failed: send the X-CSRFToken header with a session.", status=403)
        return Actor(source=RobotAudit.Source.API, user=user, remote_addr=remote_addr)

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        return None  # __call__ decides


def _unauthenticated(message: str) -> ApiError:
    return ApiError("unauthenticated", message, status=401, headers={"WWW-Authenticate": 'Bearer realm="robots"'})


router = AppRouter(style=STYLE, auth=RobotAuth(), tags=["robots"])


class AnyBody(BaseModel):
    """A body the operation does not read; it must still be a strict JSON object."""

    model_config = ConfigDict(extra="allow")


class ChainOut(Schema):
    ok: bool
    state: str
    job_id: str | None
    queue: str
    next_run_at: str | None


class CyclesOut(Schema):
    ok: bool
    cycles: list[dict[str, Any]]


class RetriedOut(Schema):
    ok: bool
    retry_of: int
    cycle: int | None
    requeued: int


class LegacyStatusOut(Schema):
    ok: bool
    robot: str
    state: str
    job_id: str | None
    status: str


def _actor(request: HttpRequest, source: str = RobotAudit.Source.API) -> Actor:
    actor: Actor = request.auth  # type: ignore[attr-defined]
    return dataclasses.replace(actor, source=source)


def _chain(robot: Robot) -> dict[str, Any]:
    chain = {"state": robot.state, "job_id": robot.chain_token or None, "queue": queues.ROBOT}
    return {"ok": True, **chain, "next_run_at": robot.next_run_at.isoformat() if robot.next_run_at else None}


def _status(robot: Robot) -> dict[str, Any]:
    return {"ok": True, **selectors.robot_status(robot)}


@router.get("robots/{slug:name}/", response={200: dict[str, Any], **ERRORS}, url_name="robot-detail")
def robot_detail(request: HttpRequest, name: RobotName) -> dict[str, Any]:
    """The robot's settings, state, chain, current and last cycle and totals."""
    return _status(selectors.robot_get(name))


@router.put(
    "robots/{slug:name}/", response={200: dict[str, Any], 201: dict[str, Any], **ERRORS}, url_name="robot-detail"
)
def robot_put(request: HttpRequest, name: RobotName, payload: RobotIn | None = None) -> Status[dict[str, Any]]:
    """Create the robot (201) or change the given settings (200)."""
    robot, created = services.robot_save(name=name, values=model_values(payload), actor=_actor(request))
    return Status(201 if created else 200, _status(robot))


@router.get("robots/{slug:name}/cycles/", response={200: CyclesOut, **ERRORS}, url_name="robot-cycles")
def robot_cycles(
    request: HttpRequest,
    name: RobotName,
    limit: CyclesLimit = Query(20, ge=1, le=MAX_CYCLES_LIMIT),  # type: ignore[type-arg]
) -> dict[str, Any]:
    """The robot's most recent cycles, newest first."""
    return {"ok": True, "cycles": selectors.robot_cycles(selectors.robot_get(name), limit=limit)}


@router.post("robots/{slug:name}/start/", response={200: ChainOut, **ERRORS}, url_name="robot-start")
def robot_start(request: HttpRequest, name: RobotName, payload: StartIn | None = None) -> dict[str, Any]:
    """Start the robot's chain now, with the given settings."""
    return _chain(services.robot_start(name=name, values=model_values(payload), actor=_actor(request)))


@router.post("robots/{slug:name}/stop/", response={200: ChainOut, **ERRORS}, url_name="robot-stop")
def robot_stop(request: HttpRequest, name: RobotName, payload: StopIn | None = None) -> dict[str, Any]:
    """Stop scheduling cycles (idempotent); ``now`` also cancels the current cycle's queued records."""
    now = payload.now if payload else False
    return _chain(services.robot_stop(name=name, now=now, actor=_actor(request)))


@router.post("robots/{slug:name}/run/", response={200: ChainOut, **ERRORS}, url_name="robot-run")
def robot_run(request: HttpRequest, name: RobotName, payload: AnyBody | None = None) -> dict[str, Any]:
    """Run one cycle now; 409 while a cycle is unfinished."""
    return _chain(services.robot_run_once(name=name, actor=_actor(request)))


@router.post(
    "robots/{slug:name}/cycles/{int:number}/retry/",
    response={200: RetriedOut, 202: RetriedOut, **ERRORS},
    url_name="robot-cycle-retry",
)
def robot_cycle_retry(
    request: HttpRequest, name: RobotName, number: int, payload: AnyBody | None = None
) -> Status[dict[str, Any]]:
    """Re-deliver the cycle's failed records in a retry cycle: 202 with how many, 200 with 0 when none failed."""
    retried = services.cycle_retry_failed(name=name, number=number, actor=_actor(request))
    body = {"ok": True, "retry_of": retried.retry_of, "cycle": retried.cycle, "requeued": retried.requeued}
    return Status(202 if retried.requeued else 200, body)


@router.get("wstart", response={200: LegacyStatusOut, **ERRORS}, url_name="legacy-wstart")
def legacy_wstart_status(request: HttpRequest) -> dict[str, Any]:
    """The prototype's status of the default robot: ``status`` "Found" while its chain job is alive."""
    robot = selectors.robot_get(settings.DEFAULT_ROBOT)
    found = selectors.chain_job_found(robot)
    return {"ok": True, "robot": robot.name, "state": robot.state, "job_id": robot.chain_token or None, "status": found}


@router.post("wstart", response={200: ChainOut, **ERRORS}, url_name="legacy-wstart")
def legacy_wstart(request: HttpRequest, payload: StartIn | None = None) -> dict[str, Any]:
    """The prototype's start of the default robot."""
    actor = _actor(request, RobotAudit.Source.LEGACY_API)
    return _chain(services.robot_start(name=settings.DEFAULT_ROBOT, values=model_values(payload), actor=actor))


@router.delete("wstop", response={200: ChainOut, **ERRORS}, url_name="legacy-wstop")
def legacy_wstop(request: HttpRequest, payload: StopIn | None = None) -> dict[str, Any]:
    """The prototype's stop of the default robot."""
    now = payload.now if payload else False
    actor = _actor(request, RobotAudit.Source.LEGACY_API)
    return _chain(services.robot_stop(name=settings.DEFAULT_ROBOT, now=now, actor=actor))
