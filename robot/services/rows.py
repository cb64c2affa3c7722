"""Insert a fan-out's new records with multi-row INSERTs, skipping Django's model layer.

A fan-out stores up to tens of thousands of records at once. ``bulk_create`` spends most of that time building a
model instance per record and preparing every field of every row one by one; here each row is only its few
varying values, the payload already serialised by the check that accepted it, and everything else is written
as the same literal in every row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from robot.models import ProcessedRecord

FIRST_DISPATCH = 1  # the model's default: a new record's first job carries dispatch 1
ROWS_PER_STATEMENT = 500
VARYING = ("robot", "cycle", "source_id", "payload", "job_id", "dispatched_at", "created_at")
FIXED: dict[str, str | int] = {
    "status": ProcessedRecord.Status.QUEUED.value,
    "attempts": 0,
    "dispatch": FIRST_DISPATCH,
    "error": "",
}

Row = tuple[str, str, str]  # source id, payload as JSON text, job id


def insert_queued(*, robot_id: int, cycle_id: int, rows: Sequence[Row], now: datetime) -> dict[str, int]:
    """Insert ``rows`` as records queued at ``now`` under their first dispatch; return each source id's record id.

    The caller has checked every source id is new for the robot (the unique constraint still guards it).
    """
    stamp = connection.ops.adapt_datetimefield_value(now)
    limit = connection.features.max_query_params or len(VARYING) * ROWS_PER_STATEMENT
    size = max(1, min(ROWS_PER_STATEMENT, limit // len(VARYING)))
    ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            part = rows[start : start + size]
            params = [
                value
                for source_id, payload, job_id in part
                for value in (robot_id, cycle_id, source_id, payload, job_id, stamp, stamp)
            ]
            cursor.execute(_statement(len(part)), params)
            # RETURNING gives no order guarantee on every database: map by the source id, unique per robot.
            ids.update((source_id, pk) for pk, source_id in cursor.fetchall())
    return ids


def _statement(count: int) -> str:
    quote = connection.ops.quote_name
    column = {field.name: quote(str(field.column)) for field in ProcessedRecord._meta.concrete_fields}
    columns = ", ".join(column[name] for name in (*VARYING, *FIXED))
    fixed = ", ".join(_literal(value) for value in FIXED.values())
    one = f"({', '.join(['%s'] * len(VARYING))}, {fixed})"
    return (
        f"INSERT INTO {quote(ProcessedRecord._meta.db_table)} ({columns}) VALUES {', '.join([one] * count)} "
        f"RETURNING {column['id']}, {column['source_id']}"
    )


def _literal(value: str | int) -> str:
    # Only this module's own constants reach here: plain words and small integers.
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"
