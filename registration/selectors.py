"""Reads used by forms, views and the API."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model

from registration.models import ACTIVE, Registration


def registration_get(*, registration_id: str | uuid.UUID) -> Registration | None:
    """Return the registration with this id, or None for an unknown or malformed id."""
    try:
        pk = registration_id if isinstance(registration_id, uuid.UUID) else uuid.UUID(registration_id)
    except ValueError:
        return None
    return Registration.objects.filter(pk=pk).first()


def login_is_taken(*, login: str) -> bool:
    """Return whether an account or an in-flight registration uses ``login`` (case-insensitively)."""
    return (
        get_user_model().objects.filter(username__iexact=login).exists()
        or Registration.objects.filter(login__iexact=login, status__in=ACTIVE).exists()
    )


def email_is_pending(*, email: str) -> bool:
    """Return whether an in-flight registration uses ``email`` (case-insensitively)."""
    return Registration.objects.filter(email__iexact=email, status__in=ACTIVE).exists()
