"""Hand-written SQL asked on every request is planned once per PostgreSQL connection, and stays Django's query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from asyncportal import prepared

pytestmark = pytest.mark.django_db
QUERY = "SELECT %s + 1"


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def ask(times: int) -> list[int]:
    answers = []
    for value in range(times):
        with prepared.cursor() as cursor:
            cursor.execute(QUERY, [value])
            answers.append(cursor.fetchone()[0])
    return answers


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statements are prepared on PostgreSQL")
def test_a_query_asked_again_and_again_becomes_a_prepared_statement() -> None:
    assert not any("+ 1" in statement for statement in prepared_statements())
    assert ask(6) == [1, 2, 3, 4, 5, 6]  # psycopg prepares at the fifth execution (prepare_threshold)
    assert [statement for statement in prepared_statements() if "+ 1" in statement] == ["SELECT $1 + 1"]


def test_a_prepared_cursor_shares_the_transaction_and_is_logged_as_django_query() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE prepared_probe (value integer)")
        cursor.execute("INSERT INTO prepared_probe VALUES (41)")
    with CaptureQueriesContext(connection) as queries, prepared.cursor() as cursor:
        cursor.execute("SELECT value + 1 FROM prepared_probe WHERE value = %s", [41])
        assert cursor.fetchone() == (42,)
    # PostgreSQL's copy shows the parameter as $1: it travels apart from the statement.
    [logged] = [query["sql"] for query in queries]
    assert logged in (
        "SELECT value + 1 FROM prepared_probe WHERE value = 41",
        "SELECT value + 1 FROM prepared_probe WHERE value = $1",
    )
