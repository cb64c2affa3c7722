"""JSON API: submit a registration (no session needed) and read its status (no personal data)."""

from __future__ import annotations

from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from ninja import Header, Schema, Status
from ninja.decorators import decorate_view
from ninja.throttling import BaseThrottle
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from asyncportal import clientip
from asyncportal.api import AppRouter, ErrorStyle
from asyncportal.queues import REGISTRATIONS
from registration import errors, idempotency, selectors, throttle
from registration.errors import RateLimited, RegistrationError
from registration.forms import RegistrationForm, error_dict, submit
from registration.models import NAME_MAX_LENGTH, PHONE_PATTERN, Registration

STYLE = ErrorStyle(invalid_status=400, errors_key=True, max_body_bytes=lambda: settings.REGISTRATION_MAX_BODY_BYTES)
router = AppRouter(style=STYLE, tags=["registrations"])
# Visible ASCII, as HTTP header values allow without quoting; long enough for a UUID or a hash.
IdempotencyKey = Annotated[str, Field(pattern=r"^[\x21-\x7e]{1,255}$", description="Any visible-ASCII string.")]


def _documented(**schema: Any) -> Any:
    """Describe a rule in the schema only: the form checks it, with the messages users know."""
    return Field(json_schema_extra=schema)


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: StrictStr = _documented(minLength=1, maxLength=NAME_MAX_LENGTH)
    last_name: StrictStr = _documented(minLength=1, maxLength=NAME_MAX_LENGTH)
    login: StrictStr = _documented(pattern=r"^[A-Za-z0-9._-]+$", maxLength=NAME_MAX_LENGTH)
    email: StrictStr = _documented(format="email", maxLength=254)
    phone: StrictStr = _documented(pattern=PHONE_PATTERN.replace(r"\A", "^").replace(r"\Z", "$"))


class AcceptedOut(Schema):
    id: str
    job_id: str
    queue: str
    status: str
    status_url: str


class StatusOut(Schema):
    id: str
    status: str
    job_id: str
    queue: str
    reason: str
    created_at: str
    updated_at: str


class IntakeLimit(BaseThrottle):
    """``REGISTRATION_RATE_LIMIT``, counted before the body is read: a refused client costs no parsing."""

    def allow_request(self, request: HttpRequest) -> bool:
        try:
            throttle.registration_admit(client=clientip.from_request(request))
        except RateLimited as exc:
            request.api_refusal = exc  # type: ignore[attr-defined]  # the 429 answer (asyncportal/api.py)
            return False
        return True


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


def _create(payload: RegistrationIn) -> Registration:
    form = RegistrationForm(payload.model_dump())
    registration = submit(form)
    if registration is None:
        raise RegistrationError("invalid", error_dict(form))
    return registration


# No CSRF: no session or cookie authorises this endpoint, and a browser cannot send an application/json body
# cross-site without a CORS preflight, which this site never grants.
@router.post(
    "registrations/",
    response={202: AcceptedOut, **STYLE.responses(400, 413, 415, 422, 429)},
    throttle=[IntakeLimit()],
    url_name="registration-create",
)
def registration_create(
    request: HttpRequest,
    payload: RegistrationIn,
    response: HttpResponse,
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> Status[dict[str, Any]]:
    """Accept a registration: 202 with where to watch it.

    With an ``Idempotency-Key`` header, a repeat with the same body answers for the first registration (its
    current status) instead of creating another; the same key with another body is 422. Keys expire after
    ``REGISTRATION_IDEMPOTENCY_TTL`` seconds.
    """
    if idempotency_key is None:
        registration = _create(payload)
    else:
        body = payload.model_dump()
        registration = idempotency.registration_create_once(
            key=idempotency_key, body=body, create=lambda: _create(payload)
        )
    status_url = request.build_absolute_uri(reverse("api:registration-status", args=[registration.pk]))
    response["Location"] = status_url
    body = {key: status_body(registration)[key] for key in ("id", "job_id", "queue", "status")}
    return Status(202, {**body, "status_url": status_url})


@router.get(
    "registrations/{registration_id}/",
    response={200: StatusOut, **STYLE.responses(404)},
    url_name="registration-status",
)
@decorate_view(never_cache)
def registration_status(request: HttpRequest, registration_id: str) -> dict[str, Any]:
    """The status of one registration; 404 for an unknown or malformed id."""
    registration = selectors.registration_get(registration_id=registration_id)
    if registration is None:
        raise RegistrationError("not_found", {"__all__": [errors.NOT_FOUND]})
    return status_body(registration)
