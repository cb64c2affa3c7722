"""The registration app's one exception type and the messages users and tests see."""

from __future__ import annotations

# Form and API field errors.
LOGIN_CHARSET = "Use only letters, digits, dots, underscores and hyphens."
LOGIN_TAKEN = "This login is already taken."
EMAIL_PENDING = "A registration with this email address is already in progress."
PHONE_FORMAT = "Enter 4 to 15 digits, optionally starting with +."

# Human-readable reasons stored on a registration.
REASON_LOGIN_TAKEN = "An account with this login already exists."
REASON_TRANSIENT = "A temporary error ({error}) persisted through every retry; an administrator can retry it."
REASON_UNEXPECTED = "An unexpected error ({error}) stopped the registration; an administrator can retry it."
REASON_LOST = "Processing was interrupted {attempts} times without finishing; an administrator can retry it."

NOT_RETRYABLE = "Only failed or rejected registrations can be retried."

# JSON API body errors.
BODY_NOT_JSON = "Send the body as application/json."
BODY_TOO_LARGE = "The body is larger than {limit} bytes."
BODY_MALFORMED = "The body is not valid JSON."
BODY_NOT_OBJECT = "The body must be a JSON object."
FIELD_UNKNOWN = "Unknown field."
FIELD_NOT_STRING = "Must be a string."
NOT_FOUND = "No registration with this id."
RATE_LIMITED = "Too many submissions from your address. Try again in {seconds} seconds."


class RegistrationError(Exception):
    """A registration rule refused the request; ``code`` is stable, ``errors`` maps fields to messages."""

    def __init__(self, code: str, errors: dict[str, list[str]]) -> None:
        super().__init__(code)
        self.code = code
        self.errors = errors


class RateLimited(RegistrationError):
    """The client's address used up ``REGISTRATION_RATE_LIMIT``; it may submit again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limited", {"__all__": [RATE_LIMITED.format(seconds=retry_after)]})
        self.retry_after = retry_after
