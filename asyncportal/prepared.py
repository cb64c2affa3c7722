"""A database cursor whose statements PostgreSQL plans once per connection, for hand-written SQL asked constantly.

Django's psycopg cursors bind parameters on the client, so PostgreSQL parses and plans every statement anew. For a
query sent on every request that planning can cost more than running it: measured for the registration form's
"is this login or address taken?" (three EXISTS answered from partial indexes), 0.33–0.41 ms of server CPU a call
planned each time against 0.14 ms prepared. This cursor binds on the server instead, and psycopg prepares a
statement once the connection has run it ``prepare_threshold`` times (5). Behind a pooler in transaction mode,
prepared statements need PgBouncer ≥ 1.21 with ``max_prepared_statements`` set (docs/scaling.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from django.db import connections
from django.db.backends.utils import CursorWrapper


@contextlib.contextmanager
def cursor(using: str = "default") -> Iterator[CursorWrapper]:
    """Django's cursor for ``using``; on PostgreSQL, one that binds on the server (so its statements get prepared).

    Everything else about it is Django's: same connection and transaction, same query logging.
    """
    connection = connections[using]
    with connection.cursor() as wrapper:
        if connection.vendor == "postgresql":
            client_side = wrapper.cursor
            wrapper.cursor = psycopg.Cursor(connection.connection)
            client_side.close()
        yield wrapper
