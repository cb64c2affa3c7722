"""The API's one error type and the messages of its body checks (no framework imports: models may use it)."""

from __future__ import annotations

NOT_JSON = "Send the body as application/json."
TOO_LARGE = "The body is larger than {limit} bytes."
MALFORMED = "The body is not valid JSON."
NOT_OBJECT = "The body must be a JSON object."
INVALID = "Some values are invalid."
UNKNOWN_FIELD = "Unknown field."
NOT_STRING = "Must be a string."
TOO_MANY = "Too many requests; try again later."
NO_SUCH_PATH = "No API operation at this path; see /api/openapi.json."
STATUS = {"malformed": 400, "too_large": 413, "unsupported_media_type": 415, "rate_limited": 429, "not_found": 404}


class ApiError(Exception):
    """A refused request: ``code`` for programs, ``message`` for people, ``fields`` for forms."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, list[str]] | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, fields or {}
        self.status = status or STATUS.get(code, 400)
        self.headers = headers or {}

    def errors_dict(self) -> dict[str, list[str]]:
        """Return the older ``errors`` shape: ``{field: [message]}``, ``__all__`` for the whole request."""
        return self.fields or {"__all__": [self.message]}

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body
