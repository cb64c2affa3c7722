"""The one JSON API (django-ninja): strict JSON bodies, one error contract, the OpenAPI schema and its docs.

Apps declare their operations on an ``AppRouter`` and raise ``ApiError`` (or a subclass); the URLconf mounts the
routers. Every refusal answers ``{"ok": false, "error": {"code", "message", "fields"?}}``; a router whose clients
read the older ``errors`` key (registration) gets it too. The router's ``ErrorStyle`` also says which status a
field error gets (400 or 422) and how large a body may be. Core imports no app: routers are given by path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from ninja import NinjaAPI, Router, Schema, Swagger
from ninja.errors import HttpError, Throttled, ValidationError
from ninja.parser import Parser
from pydantic import BeforeValidator

from asyncportal import strictjson
from asyncportal.apierrors import (
    INVALID,
    MALFORMED,
    NO_SUCH_PATH,
    NOT_JSON,
    NOT_OBJECT,
    NOT_STRING,
    TOO_LARGE,
    TOO_MANY,
    UNKNOWN_FIELD,
    ApiError,
)
from asyncportal.numbers import bounded_int, exceeds

# Pydantic's error types in the words the API used before it was declared.
FIELD_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": UNKNOWN_FIELD,
    "string_type": NOT_STRING,
    "int_type": "Must be an integer.",
    "bool_type": "Must be true or false.",
}


class ErrorDetail(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] | None = None


class ErrorOut(Schema):
    ok: bool
    error: ErrorDetail


class ErrorWithErrorsOut(ErrorOut):
    errors: dict[str, list[str]]


@dataclass(frozen=True)
class ErrorStyle:
    invalid_status: int = 422
    # Also answer ``errors`` ({field: [message]}), the key registration clients have always read.
    errors_key: bool = False
    max_body_bytes: Callable[[], int] = lambda: 64 * 1024

    def responses(self, *codes: int) -> dict[int, type[Schema]]:
        """Return the declared error answers for ``codes``, for an operation's ``response=``."""
        return dict.fromkeys(codes, ErrorWithErrorsOut if self.errors_key else ErrorOut)


class AppRouter(Router):
    def __init__(self, *, style: ErrorStyle, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.style = style


class StrictJsonParser(Parser):
    """Read a body only as a strict JSON object of at most the router's size, sent as application/json."""

    def __init__(self, api: PortalAPI) -> None:
        self.api = api

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        limit = self.api.style_for(request).max_body_bytes()
        if exceeds(request.META.get("CONTENT_LENGTH") or "", limit) or len(request.body) > limit:
            raise ApiError("too_large", TOO_LARGE.format(limit=limit))
        if (request.content_type or "").lower() != "application/json":
            raise ApiError("unsupported_media_type", NOT_JSON)
        try:
            data = strictjson.loads(request.body)
        except (ValueError, RecursionError):
            raise ApiError("malformed", MALFORMED) from None
        if not isinstance(data, dict):
            raise ApiError("malformed", NOT_OBJECT)
        return data


class StaffSwagger(Swagger):
    """The docs page for staff only (others go to the admin login); the schema itself stays public."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        def page(req: HttpRequest) -> HttpResponse:
            return super(StaffSwagger, self).render_page(req, api, **kwargs)

        response: HttpResponse = staff_member_required(page)(request)
        return response


class PortalAPI(NinjaAPI):
    """One NinjaAPI mounted at ``mount``; each router mounted on it brings its ``ErrorStyle``."""

    def __init__(self, *, mount: str = "/api/") -> None:
        self.mount = mount
        self.styles: list[tuple[str, ErrorStyle]] = []
        super().__init__(
            title="asyncportal API",
            version="1",
            description="Registration intake and robot control. Errors: see docs/api.md.",
            parser=StrictJsonParser(self),
            # Bundled Swagger UI from the static files (``ninja`` in INSTALLED_APPS); no validator badge call.
            docs=StaffSwagger(settings={"validatorUrl": None}),
            urls_namespace="api",
        )
        self.add_exception_handler(ApiError, self._refuse)
        self.add_exception_handler(ValidationError, self._invalid)
        self.add_exception_handler(HttpError, self._http_error)
        self.add_exception_handler(RequestDataTooBig, self._too_big)

    def add_app_router(self, prefix: str, router: AppRouter | str) -> None:
        """Mount ``router`` (its paths are whole, below the mount); its style answers for paths under ``prefix``."""
        app_router: AppRouter = import_string(router) if isinstance(router, str) else router
        self.styles.append((prefix, app_router.style))
        self.styles.sort(key=lambda item: -len(item[0]))
        self.add_router("", app_router)

    def style_for(self, request: HttpRequest) -> ErrorStyle:
        path = request.path_info.removeprefix(self.mount)
        return next((style for prefix, style in self.styles if path.startswith(prefix)), ErrorStyle())

    def _refuse(self, request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ApiError)
        body: dict[str, Any] = {"ok": False, "error": exc.as_dict()}
        if self.style_for(request).errors_key:
            body["errors"] = exc.errors_dict()
        response = self.create_response(request, body, status=exc.status)
        for name, value in exc.headers.items():
            response[name] = value
        return response

    def _invalid(self, request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ValidationError)
        fields: dict[str, list[str]] = {}
        for error in exc.errors:
            message = FIELD_MESSAGES.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
            fields.setdefault(_field_name(error["loc"]), []).append(message)
        if "__all__" in fields:
            # No body at all where one is required.
            return self._refuse(request, ApiError("malformed", MALFORMED))
        status = self.style_for(request).invalid_status
        return self._refuse(request, ApiError("invalid", INVALID, fields=fields, status=status))

    def _http_error(self, request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, HttpError)
        if isinstance(exc.__cause__, ApiError):  # raised by the parser, wrapped by ninja
            return self._refuse(request, exc.__cause__)
        refusal = getattr(request, "api_refusal", None)
        if isinstance(exc, Throttled) and isinstance(refusal, ApiError):
            return self._refuse(request, refusal)
        code = {401: "unauthenticated", 403: "forbidden", 429: "rate_limited"}.get(exc.status_code, "error")
        return self._refuse(request, ApiError(code, TOO_MANY if code == "rate_limited" else str(exc)))

    def not_found(self, request: HttpRequest) -> HttpResponse:
        """The 404 of a path under the mount that no operation serves: JSON like every other refusal."""
        return self._refuse(request, ApiError("not_found", NO_SUCH_PATH))

    def _too_big(self, request: HttpRequest, exc: Any) -> HttpResponse:
        # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE) fires before ours can; same answer.
        limit = min(self.style_for(request).max_body_bytes(), settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0)
        return self._refuse(request, ApiError("too_large", TOO_LARGE.format(limit=limit)))


def ascii_int(low: int, high: int, *, empty: int | None = None) -> BeforeValidator:
    """Parse a query integer: ASCII digits only ("²", "٣", "1e9", "-1" are refused) in ``[low, high]``; "" is
    ``empty``. Use as ``Annotated[int, ascii_int(1, 9)] = Query(default, ge=1, le=9)`` (bounds for the schema)."""

    def parse(raw: object) -> object:
        if raw == "" and empty is not None:
            return empty
        if type(raw) is int:  # the declared default; a query value is always text
            return raw
        value = bounded_int(raw, low=low, high=high) if isinstance(raw, str) else None
        if value is None:
            raise ValueError(f"Must be an integer from {low} to {high}.")
        return value

    return BeforeValidator(parse)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """Return the field a pydantic location names: ("body", "payload", "phone") -> "phone"."""
    names = [str(part) for part in loc[1:]]
    if loc and loc[0] == "body":
        names = names[1:]
    return names[0] if names else "__all__"
