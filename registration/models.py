from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from registration import errors

NAME_MAX_LENGTH = 35
PHONE_MIN_DIGITS = 4
PHONE_MAX_DIGITS = 15

validate_login = RegexValidator(r"\A[A-Za-z0-9._-]+\Z", errors.LOGIN_CHARSET, code="login_charset")
PHONE_PATTERN = rf"\A\+?[0-9]{{{PHONE_MIN_DIGITS},{PHONE_MAX_DIGITS}}}\Z"
validate_phone = RegexValidator(PHONE_PATTERN, errors.PHONE_FORMAT, code="phone_format")


class Status(models.TextChoices):
    PENDING = "pending"
    QUEUED = "queued"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"


# In flight: at most one registration per login and per email may be in these states.
ACTIVE = (Status.PENDING, Status.QUEUED, Status.PROCESSING)
FINAL = (Status.DONE, Status.FAILED, Status.REJECTED)


class Registration(models.Model):
    """A sign-up request; a worker turns it into a user account and a welcome mail."""

    Status = Status

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    first_name = models.CharField(max_length=NAME_MAX_LENGTH)
    last_name = models.CharField(max_length=NAME_MAX_LENGTH)
    login = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_login])
    email = models.EmailField(max_length=254)
    phone = models.CharField(max_length=PHONE_MAX_DIGITS + 1, validators=[validate_phone])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # While processing: the job holding job_id owns the row until then; past it the sweeper gives it to a new job.
    lease_until = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="registrations"
    )
    welcome_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two concurrent submissions of one login or email cannot both be stored while in flight.
            models.UniqueConstraint(
                Lower("login"), condition=models.Q(status__in=ACTIVE), name="registration_active_login_uniq"
            ),
            models.UniqueConstraint(
                Lower("email"), condition=models.Q(status__in=ACTIVE), name="registration_active_email_uniq"
            ),
            models.CheckConstraint(condition=models.Q(status__in=Status.values), name="registration_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="registration_status_idx")]

    def __str__(self) -> str:
        return f"Registration {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` the API has answered: a repeat with the same body gets the same registration."""

    key = models.CharField(max_length=255, unique=True)
    # SHA-256 of the canonical JSON body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    # Null only inside the transaction that inserts the key first and then creates the registration.
    registration = models.ForeignKey(Registration, null=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key}"
