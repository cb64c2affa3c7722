"""The django-rq dashboard behind least privilege: django-rq's own URL patterns, each re-mapped through a guard.

Read-only pages stay open to staff. Emptying a queue, deleting, requeueing, enqueueing or stopping jobs (and any
unsafe method on any dashboard page) needs ``QUEUE_PERMISSION`` or superuser: requeueing a record job is a
second delivery path, so it must not be every staff member's to take. The metrics endpoints take the bearer
token only in the ``Authorization`` header; django-rq's ``stats.json/<token>`` form is dropped, so a token never
lands in an access log.
"""

from __future__ import annotations

import importlib.util
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.views.decorators.http import require_safe
from django_rq.connection_utils import get_unique_connection_configs
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_list
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.worker import Worker

QUEUE_PERMISSION = "robot.manage_queues"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# django-rq views (by URL name) that change queues; their GET is a confirmation page, refused as well.
OPERATIONS = frozenset(
    {"clear", "requeue_all", "delete_failed_jobs", "delete_job", "requeue_job", "enqueue_job", "stop_job"}
    | {"confirm_action", "actions"}
)
# Views that answer a bearer token as well as a staff session.
TOKEN_VIEWS = frozenset({"home_json", "metrics"})

View = Callable[..., HttpResponse]


def may_operate_queues(user: Any) -> bool:
    """Return whether ``user`` may change queues (superusers hold every permission)."""
    return bool(user.is_active and user.is_staff and user.has_perm(QUEUE_PERMISSION))


def urlpatterns() -> list[URLPattern]:
    """Return django-rq's patterns for ``include()`` under ``/django-rq/``, each guarded."""
    return guard([*get_api_urlpatterns(), *get_admin_urlpatterns()])


def guard(patterns: list[URLPattern], name_prefix: str = "") -> list[URLPattern]:
    """Re-map each pattern's view through the guard its name calls for; drop token-in-URL patterns."""
    guarded = []
    for pattern in patterns:
        if "token" in pattern.pattern.regex.groupindex:
            continue
        name = (pattern.name or "").removeprefix(name_prefix)
        view = _token_view(pattern.callback) if name in TOKEN_VIEWS else _staff_view(pattern.callback, name)
        guarded.append(URLPattern(pattern.pattern, view, pattern.default_args, pattern.name))
    return guarded


def _token_view(view: View) -> View:
    @require_safe
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (getattr(request.user, "is_staff", False) or _bearer_matches(request)):
            response = JsonResponse({"error": True, "description": "Send Authorization: Bearer <token>."}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return view(request, *args, **kwargs)

    return wrapper


def _bearer_matches(request: HttpRequest) -> bool:
    token = settings.RQ_API_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Bytes, not str: compare_digest raises on non-ASCII strings, and a header may carry any byte.
    return bool(token) and scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


def _staff_view(view: View, name: str) -> View:
    operation = name in OPERATIONS

    @staff_member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if (operation or request.method not in SAFE_METHODS) and not may_operate_queues(request.user):
            raise PermissionDenied("Operating queues needs the 'Can operate RQ queues' permission.")
        _require_known_objects(name, kwargs)
        try:
            return view(request, *args, **kwargs)
        except NoSuchJobError:
            # django-rq fetches the job unguarded in several views; a stale link is a 404, not a 500.
            raise Http404("No such job.") from None
        except InvalidJobOperation as exc:  # E.g. requeueing a job that is not failed (a double click).
            return HttpResponse(str(exc), status=409, content_type="text/plain")

    return wrapper


def _require_known_objects(name: str, kwargs: dict[str, Any]) -> None:
    """Raise Http404 for an index, worker or scheduler that django-rq would answer with a 500."""
    queues = len(get_queues_list())
    for key in ("queue_index", "scheduler_index"):
        if key in kwargs and not 0 <= kwargs[key] < queues:
            raise Http404("No such queue.")
    if "connection_index" in kwargs and not 0 <= kwargs["connection_index"] < len(get_unique_connection_configs()):
        raise Http404("No such connection.")
    if name == "scheduler_jobs" and importlib.util.find_spec("rq_scheduler") is None:
        raise Http404("rq-scheduler is not installed.")
    if name == "worker_details":
        connection = get_queue_by_index(kwargs["queue_index"]).connection
        try:
            worker = Worker.find_by_key(kwargs["key"], connection=connection)
        except ValueError:  # Not an RQ worker key at all.
            worker = None
        if worker is None:
            raise Http404("No such worker.")
