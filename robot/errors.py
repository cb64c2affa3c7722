"""The robot app's one exception type; its ``code`` is stable and mapped to an HTTP status at the edge."""

from __future__ import annotations

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


class RobotError(Exception):
    """A refused robot operation: ``code`` for programs, ``message`` for people, ``fields`` for forms."""

    def __init__(self, code: str, message: str = "", *, fields: dict[str, list[str]] | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body
