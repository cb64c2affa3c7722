"""The registration app's one exception type and the messages users and tests see."""

from __future__ import annotations

from asyncportal import apierrors
from asyncportal.apierrors import ApiError

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
BODY_NOT_JSON = apierrors.NOT_JSON
BODY_TOO_LARGE = apierrors.TOO_LARGE
BODY_MALFORMED = apierrors.MALFORMED
BODY_NOT_OBJECT = apierrors.NOT_OBJECT
FIELD_UNKNOWN = apierrors.UNKNOWN_FIELD
FIELD_NOT_STRING = apierrors.NOT_STRING
IDEMPOTENCY_KEY_REUSED = "This Idempotency-Key was used with another body; send a new key for a new registration."
NOT_FOUND = "No registration with this id."
RATE_LIMITED = "Too many submissions from your address. Try again in {seconds} seconds."


STATUS = {"not_found": 404, "idempotency_key_reused": 422}


class RegistrationError(ApiError):
    """A registration rule refused the request; ``code`` is stable, ``errors`` maps fields to messages."""

    def __init__(self, code: str, errors: dict[str, list[str]]) -> None:
        whole = errors.get("__all__", [apierrors.INVALID])
        fields = {name: messages for name, messages in errors.items() if name != "__all__"}
        super().__init__(code, whole[0], fields=fields, status=STATUS.get(code))
        self.errors = errors

    def errors_dict(self) -> dict[str, list[str]]:
        return self.errors


class RateLimited(RegistrationError):
    """The client's address used up ``REGISTRATION_RATE_LIMIT``; it may submit again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limited", {"__all__": [RATE_LIMITED.format(seconds=retry_after)]})
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
