"""Reads used by forms, views and the API."""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower

from registration.models import ACTIVE, Registration


def registration_get(*, registration_id: str | uuid.UUID) -> Registration | None:
    """Return the registration with this id, or None for an unknown or malformed id."""
    try:
        pk = registration_id if isinstance(registration_id, uuid.UUID) else uuid.UUID(registration_id)
    except ValueError:
        return None
    return Registration.objects.filter(pk=pk).first()


def _in_flight(field: str, value: str) -> QuerySet[Registration]:
    # Written as the partial unique indexes are (Lower(field) where status is in flight), so the database
    # answers from the index instead of scanning every registration ever stored, as __iexact would.
    # The database lowers both sides: Python's str.lower() and SQLite's lower() disagree beyond ASCII.
    return Registration.objects.alias(key=Lower(field)).filter(key=Lower(Value(value)), status__in=ACTIVE)


def login_is_taken(*, login: str) -> bool:
    """Return whether an account or an in-flight registration uses ``login`` (case-insensitively)."""
    return get_user_model().objects.filter(username__iexact=login).exists() or _in_flight("login", login).exists()


def email_is_pending(*, email: str) -> bool:
    """Return whether an in-flight registration uses ``email`` (case-insensitively)."""
    return _in_flight("email", email).exists()
