"""JSON API: submit a registration (no session needed) and read its status (no personal data)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from asyncportal import clientip, strictjson
from asyncportal.queues import REGISTRATIONS
from registration import errors, selectors, throttle
from registration.errors import RateLimited, RegistrationError
from registration.forms import FIELDS, RegistrationForm, error_dict, submit
from registration.models import Registration

HTTP_STATUS = {"unsupported_media_type": 415, "too_large": 413, "rate_limited": 429}


def _read_object(request: HttpRequest) -> dict[str, Any]:
    """Return the request body as a JSON object, within the size limit."""
    if (request.content_type or "").lower() != "application/json":
        raise RegistrationError("unsupported_media_type", {"__all__": [errors.BODY_NOT_JSON]})
    limit: int = settings.REGISTRATION_MAX_BODY_BYTES
    too_large = RegistrationError("too_large", {"__all__": [errors.BODY_TOO_LARGE.format(limit=limit)]})
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    try:
        body = request.body
    except RequestDataTooBig:
        raise too_large from None
    if len(body) > limit:
        raise too_large
    try:
        payload = strictjson.loads(body)
    except (ValueError, RecursionError):
        raise RegistrationError("malformed", {"__all__": [errors.BODY_MALFORMED]}) from None
    if not isinstance(payload, dict):
        raise RegistrationError("malformed", {"__all__": [errors.BODY_NOT_OBJECT]})
    return payload


def _create(payload: dict[str, Any]) -> Registration:
    shape_errors = {key: [errors.FIELD_UNKNOWN] for key in payload if key not in FIELDS}
    shape_errors |= {key: [errors.FIELD_NOT_STRING] for key in FIELDS if not isinstance(payload.get(key, ""), str)}
    if shape_errors:
        raise RegistrationError("invalid", shape_errors)
    form = RegistrationForm(payload)
    registration = submit(form)
    if registration is None:
        raise RegistrationError("invalid", error_dict(form))
    return registration


def status_body(registration: Registration) -> dict[str, Any]:
    """Return what anyone holding the id may see: state and timing, never personal data."""
    return {
        "id": str(registration.pk),
        "status": registration.status,
        "job_id": registration.job_id,
        "queue": REGISTRATIONS,
        "reason": registration.reason,
        "created_at": registration.created_at.isoformat(),
        "updated_at": registration.updated_at.isoformat(),
    }


# Exempt from CSRF: no session or cookie authorises this endpoint, and a browser cannot send an
# application/json body cross-site without a CORS preflight, which this site never grants.
@csrf_exempt
@require_POST
def registrations(request: HttpRequest) -> JsonResponse:
    """Accept a registration: 202 with where to watch it, or the errors with 400, 413, 415 or 429."""
    try:
        # Counted before the body is read: a refused client costs no parsing and no database query.
        throttle.registration_admit(client=clientip.from_request(request))
        registration = _create(_read_object(request))
    except RegistrationError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return JsonResponse({"errors": exc.errors}, status=HTTP_STATUS.get(exc.code, 400), headers=headers)
    status_url = request.build_absolute_uri(reverse("registration:api-status", args=[registration.pk]))
    body = {key: status_body(registration)[key] for key in ("id", "job_id", "queue", "status")}
    return JsonResponse({**body, "status_url": status_url}, status=202, headers={"Location": status_url})


@never_cache
@require_GET
def registration_status(request: HttpRequest, registration_id: str) -> JsonResponse:
    """Return the status of one registration; 404 for an unknown or malformed id."""
    registration = selectors.registration_get(registration_id=registration_id)
    if registration is None:
        return JsonResponse({"errors": {"__all__": [errors.NOT_FOUND]}}, status=404)
    return JsonResponse(status_body(registration))
