"""The robot app's one exception type; its ``code`` is stable and mapped to an HTTP status at the edge."""

from __future__ import annotations

from asyncportal.apierrors import ApiError

NOT_FOUND = "not_found"
ALREADY_RUNNING = "already_running"
CYCLE_IN_PROGRESS = "cycle_in_progress"
INVALID = "invalid"
MALFORMED = "malformed"
TOO_LARGE = "too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
RETRY = "retry"
RUNNING = "running"
HAS_HISTORY = "has_history"

MESSAGES = {
    NOT_FOUND: "No robot with this name.",
    ALREADY_RUNNING: "Robot is already running.",
    CYCLE_IN_PROGRESS: "A cycle of this robot is in progress; try again when it has finished.",
    INVALID: "Some values are invalid.",
    MALFORMED: "The request body is not a JSON object.",
    TOO_LARGE: "The request body is too large.",
    UNSUPPORTED_MEDIA_TYPE: "Send the body as application/json.",
    RETRY: "Transient failure; the record will be retried.",
    RUNNING: "Robot is running; stop it first.",
    HAS_HISTORY: "Robot has history; stop it instead (history is kept for de-duplication).",
}


STATUS = {
    NOT_FOUND: 404,
    ALREADY_RUNNING: 422,
    INVALID: 422,
    CYCLE_IN_PROGRESS: 409,
    MALFORMED: 400,
    TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
}


class RobotError(ApiError):
    """A refused robot operation: ``code`` for programs, ``message`` for people, ``fields`` for forms."""

    def __init__(self, code: str, message: str = "", *, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(code, message or MESSAGES.get(code, code), fields=fields, status=STATUS.get(code, 400))
