from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact
from django.test.utils import CaptureQueriesContext

from registration import selectors
from registration.models import Status
from registration.selectors import Taken
from tests.registration.factories import make_registration

pytestmark = pytest.mark.django_db


def test_taken_answers_for_login_and_email_in_one_query() -> None:
    make_registration(login="ADA.L", email="ADA@example.com", status=Status.QUEUED)
    with CaptureQueriesContext(connection) as queries:
        taken = selectors.taken(login="ada.l", email="ada@EXAMPLE.com")
    assert taken == Taken(login=True, email=True)
    assert len(queries) == 1


def test_taken_finds_an_account_login_case_insensitively() -> None:
    User.objects.create_user(username="Grace_H")
    assert selectors.taken(login="grace_h", email="grace@example.com") == Taken(login=True, email=False)


@pytest.mark.parametrize("status", [Status.PENDING, Status.QUEUED, Status.PROCESSING])
def test_taken_counts_registrations_in_flight(status: Status) -> None:
    make_registration(status=status)
    assert selectors.taken(login="ada.l", email="ada@example.com") == Taken(login=True, email=True)


@pytest.mark.parametrize("status", [Status.DONE, Status.FAILED, Status.REJECTED])
def test_taken_ignores_finished_registrations(status: Status) -> None:
    make_registration(status=status)
    assert selectors.taken(login="ada.l", email="ada@example.com") == Taken(login=False, email=False)


def test_taken_does_not_mix_up_login_and_email() -> None:
    make_registration(login="ada@example.com", email="other@example.com")
    assert selectors.taken(login="other@example.com", email="ada@example.com") == Taken(login=False, email=False)


def test_taken_leaves_a_missing_value_unasked() -> None:
    make_registration()
    assert selectors.taken(login=None, email="ada@example.com") == Taken(login=False, email=True)
    assert selectors.taken(login="ada.l", email=None) == Taken(login=True, email=False)
    with CaptureQueriesContext(connection) as queries:
        assert selectors.taken(login=None, email=None) == Taken(login=False, email=False)
    assert len(queries) == 0


def test_taken_matches_an_address_with_non_ascii_letters() -> None:
    make_registration(email="ÉLODIE@example.com")
    # SQLite's lower() folds ASCII only, PostgreSQL's every letter; the ASCII part folds on both.
    assert selectors.taken(login=None, email="ÉLODIE@example.com").email
    assert selectors.taken(login=None, email="Élodie@EXAMPLE.com").email


def _plan(sql: str, params: list[str]) -> str:
    """The database's plan for ``sql``, with sequential scans ruled out where the database allows it."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A test table is tiny, so the planner would rightly scan it; off, it must use an index if one fits.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}", params)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(" ".join(str(cell) for cell in row) for row in cursor.fetchall())


def test_taken_finds_an_account_through_the_login_index_not_a_table_scan() -> None:
    plan = _plan(selectors._taken_sql(), ["ada", "ada", "ada@example.com"])
    assert "registration_account_login_upper" in plan, plan
    assert "SCAN auth_user" not in plan and "Seq Scan on auth_user" not in plan, plan


def test_account_exists_uses_the_login_index_and_ignores_case() -> None:
    User.objects.create_user(username="Grace_H")
    query = User.objects.filter(Exact(Upper("username"), Upper(Value("x"))))
    sql, params = query.query.sql_with_params()
    assert "registration_account_login_upper" in _plan(sql, [str(param) for param in params])
    assert selectors.account_exists(login="gRACE_h")
    assert not selectors.account_exists(login="grace")
