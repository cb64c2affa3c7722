"""Reads used by forms, views and the API."""

from __future__ import annotations

import functools
import uuid
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection, models
from django.db.models import Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact

from asyncportal import prepared
from registration.models import ACTIVE, Registration


class Taken(NamedTuple):
    """Which parts of a submission someone else already holds."""

    login: bool
    email: bool


def registration_get(*, registration_id: str | uuid.UUID) -> Registration | None:
    """Return the registration with this id, or None for an unknown or malformed id."""
    try:
        pk = registration_id if isinstance(registration_id, uuid.UUID) else uuid.UUID(registration_id)
    except ValueError:
        return None
    return Registration.objects.filter(pk=pk).first()


def _columns(model: type[models.Model], *names: str) -> tuple[str, ...]:
    """Return the quoted table of ``model``, then the quoted column of each field in ``names``."""
    quote = connection.ops.quote_name
    columns = {field.name: str(field.column) for field in model._meta.concrete_fields}
    return (quote(model._meta.db_table), *(quote(columns[name]) for name in names))


@functools.cache
def _taken_sql() -> str:
    # Built once: every submission asks this, and Django's query building cost more than the query itself.
    # In flight is written as the partial unique indexes are (LOWER(field), the status list as literals), so
    # both databases answer from those indexes; the database lowers both sides, as Python's str.lower() and
    # SQLite's lower() disagree beyond ASCII. Accounts compare as Django's __iexact does on PostgreSQL;
    # on SQLite, UPPER and LIKE both fold ASCII only, so it is the same comparison there too.
    user_model = get_user_model()
    users, username = _columns(user_model, user_model.USERNAME_FIELD)
    registrations, login, email, status = _columns(Registration, "login", "email", "status")
    statuses = ", ".join(f"'{value}'" for value in ACTIVE)
    in_flight = f"{status} IN ({statuses})"
    return (
        f"SELECT EXISTS(SELECT 1 FROM {users} WHERE UPPER({username}) = UPPER(%s)), "
        f"EXISTS(SELECT 1 FROM {registrations} WHERE LOWER({login}) = LOWER(%s) AND {in_flight}), "
        f"EXISTS(SELECT 1 FROM {registrations} WHERE LOWER({email}) = LOWER(%s) AND {in_flight})"
    )


def taken(*, login: str | None, email: str | None) -> Taken:
    """Return, in one query, whether an account or an in-flight registration uses ``login`` and whether an
    in-flight registration uses ``email`` (both case-insensitively); None leaves that one unasked."""
    if login is None and email is None:
        return Taken(login=False, email=False)
    # A prepared statement on PostgreSQL: planning it cost more than running it (asyncportal/prepared.py).
    [(account, login_in_flight, email_in_flight)] = prepared.fetchall(_taken_sql(), [login, login, email])
    return Taken(login=bool(account or login_in_flight), email=bool(email_in_flight))


def account_exists(*, login: str) -> bool:
    """Return whether an account holds ``login``, compared as ``taken`` does (answered by the UPPER index)."""
    user_model = get_user_model()
    same = Exact(Upper(user_model.USERNAME_FIELD), Upper(Value(login)))
    return bool(user_model.objects.filter(same).exists())
