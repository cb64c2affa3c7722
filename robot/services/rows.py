"""Insert a fan-out's new records with multi-row INSERTs, skipping Django's model layer.

A fan-out stores up to tens of thousands of records at once. ``bulk_create`` spends most of that time building a
model instance per record and preparing every field of every row one by one; here each row is only its few
varying values, the payload already serialised by the check that accepted it, and everything else is written
as the same literal in every row. Measured on a 10,000-record fan-out: 0.6 s with ``bulk_create``, 0.06 s
(SQLite) and 0.1 s (PostgreSQL) here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from robot.models import ProcessedRecord

FIRST_DISPATCH = 1  # the model's default: a new record's first job carries dispatch 1
ROWS_PER_STATEMENT = 500
JSON_ROWS = 5000
VARYING = ("robot", "cycle", "source_id", "payload", "job_id", "dispatched_at", "created_at")
FIXED: dict[str, str | int] = {
    "status": ProcessedRecord.Status.QUEUED.value,
    "attempts": 0,
    "dispatch": FIRST_DISPATCH,
    "error": "",
}

Row = tuple[str, str, str]  # source id, payload as JSON text, job id
Statement = tuple[str, list[Any]]


def insert_queued(*, robot_id: int, cycle_id: int, rows: Sequence[Row], now: datetime) -> dict[str, int]:
    """Insert ``rows`` as records queued at ``now`` under their first dispatch; return each source id's record id.

    The caller has checked every source id is new for the robot (the unique constraint still guards it).
    """
    common = (robot_id, cycle_id, connection.ops.adapt_datetimefield_value(now))
    # PostgreSQL takes the rows as one JSON document: psycopg parses a query's placeholders and quotes array
    # items in Python, and for thousands of them that costs more than the insert itself.
    build = _json_rows if _postgresql() else _values
    size = JSON_ROWS if build is _json_rows else _values_rows()
    ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            cursor.execute(*build(rows[start : start + size], *common))
            # RETURNING gives no order guarantee on every database: map by the source id, unique per robot.
            ids.update((source_id, pk) for pk, source_id in cursor.fetchall())
    return ids


def already_stored(*, robot_id: int, source_ids: Sequence[str]) -> set[str]:
    """Return which of ``source_ids`` the robot has a record of, in one query whatever their number."""
    quote = connection.ops.quote_name
    # The ids travel as one JSON array: no placeholder per id (see above, and SQLite's 999-parameter limit).
    ids = "SELECT jsonb_array_elements_text(CAST(%s AS jsonb))" if _postgresql() else "SELECT value FROM json_each(%s)"
    statement = (
        f"SELECT {quote(_column('source_id'))} FROM {quote(ProcessedRecord._meta.db_table)} "
        f"WHERE {quote(_column('robot'))} = %s AND {quote(_column('source_id'))} IN ({ids})"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [robot_id, json.dumps(list(source_ids))])
        return {source_id for (source_id,) in cursor.fetchall()}


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _values_rows() -> int:
    limit = connection.features.max_query_params or len(VARYING) * ROWS_PER_STATEMENT
    return max(1, min(ROWS_PER_STATEMENT, limit // len(VARYING)))


def _values(part: Sequence[Row], robot_id: int, cycle_id: int, stamp: Any) -> Statement:
    one = f"({', '.join(['%s'] * len(VARYING))}, {_fixed()})"
    params = [
        value
        for source_id, payload, job_id in part
        for value in (robot_id, cycle_id, source_id, payload, job_id, stamp, stamp)
    ]
    return f"{_insert_into()} VALUES {', '.join([one] * len(part))} {_returning()}", params


def _json_rows(part: Sequence[Row], robot_id: int, cycle_id: int, stamp: Any) -> Statement:
    cast = {name: _db_type(name) for name in VARYING}
    select = (
        f"SELECT CAST(%s AS {cast['robot']}), CAST(%s AS {cast['cycle']}), r->>0, r->1, r->>2, "
        f"CAST(%s AS {cast['dispatched_at']}), CAST(%s AS {cast['created_at']}), {_fixed()} "
        "FROM jsonb_array_elements(CAST(%s AS jsonb)) AS r"
    )
    # One JSON array of [source id, payload, job id] rows: the payloads are JSON text already.
    document = ",".join(
        f"[{json.dumps(source_id)},{payload},{json.dumps(job_id)}]" for source_id, payload, job_id in part
    )
    return f"{_insert_into()} {select} {_returning()}", [robot_id, cycle_id, stamp, stamp, f"[{document}]"]


def _insert_into() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(_column(name)) for name in (*VARYING, *FIXED))
    return f"INSERT INTO {quote(ProcessedRecord._meta.db_table)} ({columns})"


def _returning() -> str:
    quote = connection.ops.quote_name
    return f"RETURNING {quote(_column('id'))}, {quote(_column('source_id'))}"


def _fixed() -> str:
    # Only this module's own constants are written as literals: plain words and small integers.
    return ", ".join(str(value) if isinstance(value, int) else f"'{value}'" for value in FIXED.values())


def _column(name: str) -> str:
    return str(ProcessedRecord._meta.get_field(name).column)  # type: ignore[union-attr]


def _db_type(name: str) -> str:
    return str(ProcessedRecord._meta.get_field(name).db_type(connection))
