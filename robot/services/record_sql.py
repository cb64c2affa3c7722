"""The record path's hot statements, written once as SQL: the ORM took longer to build them than the database
took to run them (profiled: about 0.5 ms of query building per statement against 0.05 ms of execution).

Table and column names come from the models' ``_meta`` through ``quote_name``; every value is a parameter.

``UPDATE … RETURNING`` (SQLite 3.35+, PostgreSQL) names the rows a fenced write took, so no read has to come
before or after it to find out. One code path serves both databases.

On PostgreSQL every statement here is prepared (``asyncportal.prepared``): planning ``take``, with its
correlated subqueries, cost the server more than running it (0.53–0.58 of 0.88–0.95 ms a call, against
0.21 of 0.49 ms prepared). And the three writes commit without waiting for the WAL flush unless
``ROBOT_RECORD_SYNCHRONOUS_COMMIT`` is on: the statement itself calls ``set_config('synchronous_commit',
'off', true)`` in a one-row ``FROM``, which holds for its own transaction only (the setting in force at commit
decides), and only in autocommit, so it never loosens a caller's transaction. One statement, so it can be
prepared; the flush was half of each write's time. What a database crash can then forget is the last fraction
of a second of claims and outcomes: the sweeper re-dispatches those records and they are re-sent under their
Idempotency-Key, as after a killed worker. A cycle's end commits synchronously, which flushes every record
write before it (docs/reliability.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

from asyncportal import prepared
from robot.models import PENDING, ProcessedRecord, Robot

Status = ProcessedRecord.Status
Row = dict[str, Any]
TAKEN = ("pk", "cycle_id", "status", "source_id", "payload", "dispatch", "attempts")
ROBOT = ("name", "target_url", "target_secret")
WRITES = frozenset({"take", "complete", "finish_done"})
# Joined to a write as a one-row FROM: evaluated once, it turns the flush wait off until the write's own commit.
ASYNCHRONOUS = "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous "


def take(ids: Sequence[int], *, dispatch: int, now: datetime, lease_until: datetime) -> list[Row]:
    """Take the records still queued under ``dispatch`` (attempts + 1) and return them with their robot.

    A robot with a target gets them claimed (processing until ``lease_until``); one without gets them done at
    once, there being nothing to deliver. A row's ``attempts`` is the count before this statement.
    """
    params = [Status.PROCESSING, Status.DONE, _when(now), _when(now), _when(lease_until), *ids, Status.QUEUED, dispatch]
    rows = []
    for values in _run("take", len(ids), params):
        row = dict(zip(TAKEN, values, strict=False))
        row["robot"] = dict(zip(ROBOT, values[len(TAKEN) :], strict=True))
        # Both backends hand JSON over as text (Django registers a text loader for jsonb with psycopg).
        if isinstance(row["payload"], str):
            row["payload"] = json.loads(row["payload"])
        rows.append(row)
    return rows


def complete(ids: Sequence[int], *, dispatch: int, now: datetime) -> list[tuple[int, int | None]]:
    """Mark done the records still queued under ``dispatch`` if their robot has no target; return (pk, cycle)."""
    params = [Status.DONE, _when(now), _when(now), *ids, Status.QUEUED, dispatch]
    return [(pk, cycle) for pk, cycle in _run("complete", len(ids), params)]


def finish_done(ids: Sequence[int], *, dispatch: int, now: datetime) -> set[int]:
    """Mark done the records still processing under ``dispatch``; return the pks changed."""
    params = [Status.DONE, "", _when(now), *ids, Status.PROCESSING, dispatch]
    return {pk for (pk,) in _run("finish_done", len(ids), params)}


def any_pending(cycle_id: int) -> bool:
    """Whether a record of the cycle is still queued or processing (the ``(cycle, status)`` index answers)."""
    return bool(_run("any_pending", 0, [cycle_id, *PENDING]))


def _run(name: str, count: int, params: list[Any]) -> list[tuple[Any, ...]]:
    sql = _sql(connection.vendor, name, count, asynchronous=name in WRITES and _flush_skippable())
    return prepared.fetchall(sql, params)


def _flush_skippable() -> bool:
    return (
        connection.vendor == "postgresql"
        and not settings.ROBOT_RECORD_SYNCHRONOUS_COMMIT
        and not connection.in_atomic_block
    )


def _when(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


@cache
def _sql(vendor: str, name: str, count: int, *, asynchronous: bool = False) -> str:
    """The statement ``name`` for ``count`` record ids (the vendor is in the key: quoting is per backend);
    ``asynchronous`` (PostgreSQL, writes) makes its commit skip the WAL flush wait."""
    q = connection.ops.quote_name
    records, robots = q(ProcessedRecord._meta.db_table), q(Robot._meta.db_table)
    c = {field.name: q(str(field.column)) for field in ProcessedRecord._meta.concrete_fields}
    r = {field.name: q(str(field.column)) for field in Robot._meta.concrete_fields}
    of_robot = f"FROM {robots} WHERE {r['id']} = {records}.{c['robot']}"
    has_target = f"EXISTS (SELECT 1 {of_robot} AND {r['target_url']} <> '')"
    flush = ASYNCHRONOUS if asynchronous else ""
    fenced = f"{flush}WHERE {c['id']} IN ({', '.join(['%s'] * count)}) AND {c['status']} = %s AND {c['dispatch']} = %s"
    taken = ", ".join([c["id"], c["cycle"], c["status"], c["source_id"], c["payload"], c["dispatch"]])
    statements = {
        "take": f"UPDATE {records} SET {c['status']} = CASE WHEN {has_target} THEN %s ELSE %s END, "
        f"{c['attempts']} = {c['attempts']} + 1, {c['started_at']} = %s, "
        f"{c['finished_at']} = CASE WHEN {has_target} THEN {c['finished_at']} ELSE %s END, "
        f"{c['lease_until']} = CASE WHEN {has_target} THEN %s ELSE NULL END {fenced} "
        f"RETURNING {taken}, {c['attempts']} - 1, " + ", ".join(f"(SELECT {r[name]} {of_robot})" for name in ROBOT),
        "complete": f"UPDATE {records} SET {c['status']} = %s, {c['attempts']} = {c['attempts']} + 1, "
        f"{c['started_at']} = %s, {c['finished_at']} = %s, {c['lease_until']} = NULL {fenced} "
        f"AND NOT {has_target} RETURNING {c['id']}, {c['cycle']}",
        "finish_done": f"UPDATE {records} SET {c['status']} = %s, {c['error']} = %s, {c['finished_at']} = %s, "
        f"{c['lease_until']} = NULL {fenced} RETURNING {c['id']}",
        "any_pending": f"SELECT 1 FROM {records} WHERE {c['cycle']} = %s "
        f"AND {c['status']} IN ({', '.join(['%s'] * len(PENDING))}) LIMIT 1",
    }
    return statements[name]
