"""Hand-written SQL that PostgreSQL plans once per connection, for statements asked constantly.

Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans every statement anew. For a
query sent on every request that planning can cost more than running it: measured for the registration form's
"is this login or address taken?" (three EXISTS answered from partial indexes), 0.33–0.41 ms of server CPU a call
planned each time against 0.14 ms prepared. ``fetchall`` binds on the server instead, and psycopg prepares a
statement once the connection has run it ``prepare_threshold`` times (``DATABASE_PREPARE_THRESHOLD``, 5).

A prepared statement outlives a migration that changes the type of a column it returns: PostgreSQL then refuses it
("cached plan must not change result type") for as long as the connection lives. ``fetchall`` then drops the
connection's prepared statements and asks once more; inside a transaction that error has aborted the transaction,
and psycopg drops them itself at the rollback. Behind a pooler in transaction mode, prepared
statements need PgBouncer ≥ 1.21 with ``max_prepared_statements`` set (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import NotSupportedError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

STALE_PLAN = "cached plan must not change result type"


def fetchall(sql: str, params: Sequence[Any], using: str = "default") -> list[tuple[Any, ...]]:
    """Run ``sql`` with ``params`` on Django's connection ``using`` and return its rows.

    Same connection, transaction and query logging as Django's own cursor; on PostgreSQL the statement binds on
    the server, so it is prepared once the connection repeats it.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return _run(connection, sql, params)
    try:
        return _run(connection, sql, params, server_side=True)
    except NotSupportedError as exc:
        if STALE_PLAN not in str(exc) or connection.in_atomic_block:
            raise
    # Safe to ask again, writes included: PostgreSQL refuses the stale plan before executing anything.
    # psycopg notices DEALLOCATE ALL and forgets the names it prepared, so this one is prepared afresh in time.
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    return _run(connection, sql, params, server_side=True)


def _run(
    connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any], *, server_side: bool = False
) -> list[tuple[Any, ...]]:
    with connection.cursor() as wrapper:
        if server_side:
            client_side = wrapper.cursor
            wrapper.cursor = psycopg.Cursor(connection.connection)
            client_side.close()
        wrapper.execute(sql, params)
        rows: list[tuple[Any, ...]] = wrapper.fetchall()
    return rows
