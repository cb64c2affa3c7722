"""Delivering a sub-batch of a chunk at once: one fenced take, concurrent POSTs, one fenced write of the done ones.

The database work stays in the job's thread (Django connections are per thread); the worker threads only POST.
Every delivery of a sub-batch starts after the claim, so the lease (the total POST deadline plus a margin)
bounds each of them, as it bounds a single one.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings

from robot import clients
from robot.services import record_sql

Row = dict[str, Any]
Answer = clients.PostOutcome | Exception  # what a POST gave: an outcome, or what it raised
Key = Callable[[str, str], str]  # (robot name, source id) -> Idempotency-Key


def concurrency() -> int:
    """How many records of a chunk one worker POSTs at once (``ROBOT_DELIVERY_CONCURRENCY``)."""
    return max(1, int(settings.ROBOT_DELIVERY_CONCURRENCY))


def take(rows: Sequence[Row], *, now: datetime, lease: float) -> list[Row]:
    """Take the rows still queued under their dispatch: one conditional UPDATE per dispatch number.

    Return the rows this call took, as the database holds them (another job may have taken some): claimed
    (processing) when their robot has a target, done when it has none.
    """
    taken: list[Row] = []
    for dispatch, group in by_dispatch(rows).items():
        ids = [row["pk"] for row in group]
        taken += record_sql.take(ids, dispatch=dispatch, now=now, lease_until=now + timedelta(seconds=lease))
    return sorted(taken, key=lambda row: row["pk"])


def post_all(rows: Sequence[Row], robot: dict[str, Any], key: Key) -> list[Answer]:
    """POST every row, up to ``concurrency()`` at once; each keeps its own total deadline and outcome."""
    if len(rows) == 1:
        return [_post(rows[0], robot, key)]
    pool = _pool(os.getpid(), concurrency())
    # Each POST runs in a copy of this context: the deadline and credential context variables set inside it
    # belong to that exchange alone.
    futures = [pool.submit(contextvars.copy_context().run, _post, row, robot, key) for row in rows]
    return [future.result() for future in futures]


def finish_done(rows: Sequence[Row], *, now: datetime) -> set[int]:
    """Mark the delivered rows done, one fenced UPDATE per dispatch number; return the pks it changed."""
    changed: set[int] = set()
    for dispatch, group in by_dispatch(rows).items():
        changed |= record_sql.finish_done([row["pk"] for row in group], dispatch=dispatch, now=now)
    return changed


def _post(row: Row, robot: dict[str, Any], key: Key) -> Answer:
    try:
        idempotency_key = key(robot["name"], row["source_id"])
        return clients.post_record(
            robot["target_url"], row["payload"], idempotency_key=idempotency_key, secret=robot["target_secret"]
        )
    except Exception as exc:  # noqa: BLE001 - handed to the job's thread, which decides per record.
        return exc


def by_dispatch(rows: Sequence[Row]) -> dict[int, list[Row]]:
    """Group rows by their dispatch number: each fenced statement names one."""
    groups: dict[int, list[Row]] = {}
    for row in rows:
        groups.setdefault(row["dispatch"], []).append(row)
    return groups


@cache
def _pool(pid: int, size: int) -> ThreadPoolExecutor:
    """One pool per process and size (keyed by pid: a forked child has none of its parent's threads)."""
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="robot-post")
