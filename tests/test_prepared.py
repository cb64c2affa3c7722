"""Hand-written SQL asked on every request is planned once per PostgreSQL connection, stays Django's query, and
survives a migration that changes what it returns."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import NotSupportedError, connection, transaction
from django.test.utils import CaptureQueriesContext

from asyncportal import prepared

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="statements are prepared on PostgreSQL")
PROBE = "SELECT value FROM prepared_probe WHERE id = %s"


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def run(sql: str, sql_params: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, sql_params)


def migrate_elsewhere(sql: str) -> None:
    """Run ``sql`` as a migration would: on another connection (psycopg forgets its own statements after DDL)."""
    settings = connection.settings_dict
    params = {"dbname": settings["NAME"], "host": settings["HOST"], "port": settings["PORT"], "user": settings["USER"]}
    with psycopg.connect(**{key: value for key, value in params.items() if value}, autocommit=True) as other:
        other.execute(sql.encode())


@pytest.fixture
def probe() -> Iterator[None]:
    """A committed table (a migration's change must be visible to the statement, as in production)."""
    run("CREATE TABLE prepared_probe (id integer PRIMARY KEY, value varchar(10))", [])
    run("INSERT INTO prepared_probe VALUES (1, 'one')", [])
    yield
    run("DROP TABLE prepared_probe", [])


@postgresql_only
@pytest.mark.django_db
def test_a_query_asked_again_and_again_becomes_a_prepared_statement() -> None:
    assert not any("+ 1" in statement for statement in prepared_statements())
    answers = [prepared.fetchall("SELECT %s + 1", [value]) for value in range(6)]
    assert answers == [[(1,)], [(2,)], [(3,)], [(4,)], [(5,)], [(6,)]]  # psycopg prepares at the fifth execution
    assert [statement for statement in prepared_statements() if "+ 1" in statement] == ["SELECT $1 + 1"]


@pytest.mark.django_db
def test_a_prepared_query_shares_the_transaction_and_is_logged_as_a_django_query() -> None:
    run("CREATE TEMPORARY TABLE prepared_temp (value integer)", [])
    run("INSERT INTO prepared_temp VALUES (41)", [])
    with CaptureQueriesContext(connection) as queries:
        assert prepared.fetchall("SELECT value + 1 FROM prepared_temp WHERE value = %s", [41]) == [(42,)]
    # PostgreSQL's copy shows the parameter as $1: it travels apart from the statement.
    [logged] = [query["sql"] for query in queries]
    assert logged.removesuffix("41").removesuffix("$1") == "SELECT value + 1 FROM prepared_temp WHERE value = "


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_prepared_query_still_answers_after_a_migration_changes_the_type_it_returns(probe: None) -> None:
    for _ in range(6):
        assert prepared.fetchall(PROBE, [1]) == [("one",)]
    assert any("prepared_probe" in statement for statement in prepared_statements())
    migrate_elsewhere("ALTER TABLE prepared_probe ALTER COLUMN value TYPE varchar(20)")
    assert prepared.fetchall(PROBE, [1]) == [("one",)]
    # Answered after dropping the stale statement, unprepared; repeated, it is prepared again.
    assert not any("prepared_probe" in statement for statement in prepared_statements())
    for _ in range(5):
        assert prepared.fetchall(PROBE, [1]) == [("one",)]
    assert any("prepared_probe" in statement for statement in prepared_statements())


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_stale_plan_fails_it_and_the_next_query_recovers(probe: None) -> None:
    for _ in range(6):
        prepared.fetchall(PROBE, [1])
    migrate_elsewhere("ALTER TABLE prepared_probe ALTER COLUMN value TYPE text")
    with pytest.raises(NotSupportedError), transaction.atomic():
        prepared.fetchall(PROBE, [1])
    assert prepared.fetchall(PROBE, [1]) == [("one",)]
