"""Count SQL statements and Redis commands per record, for docs/scaling.md, and profile a record worker.

Everything runs in the bench process: the cycle's fan-out through ``services.cycle_run`` and its record jobs
through a burst worker of the records role's class, so every statement and command is ours to count (Django's
``execute_wrapper``, Redis ``INFO commandstats`` deltas minus an idle burst worker's own commands).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created
from django.utils.module_loading import import_string
from redis import Redis
from rq.worker import SimpleWorker

from asyncportal import queues
from bench.robot_procs import role_worker_class


@dataclass
class Counts:
    chunk: int
    target: bool
    records: int
    sql_fan_out: int = 0
    sql_jobs: int = 0
    connects: int = 0
    redis_fan_out: int = 0
    redis_jobs: int = 0

    def per_record(self, value: int) -> float:
        return value / self.records


@contextmanager
def sql_counter() -> Iterator[list[int]]:
    """Count statements sent and connections opened (``[statements, connects]``) inside the block."""
    counted = [0, 0]

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        counted[0] += 1
        return execute(sql, params, many, context)

    def opened(**kwargs: Any) -> None:
        counted[1] += 1

    connection_created.connect(opened)
    try:
        with connection.execute_wrapper(count):
            yield counted
    finally:
        connection_created.disconnect(opened)


def redis_calls(redis: Redis) -> int:
    stats: dict[str, Any] = redis.info("commandstats")
    return sum(int(value["calls"]) for key, value in stats.items() if key != "cmdstat_info")


def drain_in_process() -> None:
    """Drain the records queue in a burst worker of the records role's class, so what that class does around a
    job (database hygiene) is counted too; RQ's ``SimpleWorker`` if that class forks (its children's statements
    would escape the count)."""
    queue = queues.get_queue(queues.RECORDS)
    worker_class = import_string(role_worker_class())
    if not issubclass(worker_class, SimpleWorker):
        worker_class = SimpleWorker
    worker = worker_class([queue], connection=queue.connection, serializer=queue.serializer)
    worker.work(burst=True, logging_level="WARNING")


def drop_robot(robot: Any) -> None:
    """Delete a throwaway bench robot with its history (the product keeps a robot's history; a bench need not)."""
    from robot.models import ProcessedRecord, RobotCycle

    ProcessedRecord.objects.filter(robot=robot).delete()
    RobotCycle.objects.filter(robot=robot).delete()
    robot.delete()


def measure(*, records: int, chunk: int, target: str, source: str, make_robot: Callable[..., Any]) -> Counts:
    """Fan one cycle out and drain its jobs in this process, counting what each step sends."""
    from robot import services

    redis = queues.get_connection()
    idle_before = redis_calls(redis)
    drain_in_process()
    idle = redis_calls(redis) - idle_before - 1  # the INFO itself is excluded by name; the RESET is not sent
    robot = make_robot(batch_size=records, chunk=chunk, target=target, source=source, token="count")
    counts = Counts(chunk=chunk, target=bool(target), records=records)
    before = redis_calls(redis)
    with sql_counter() as counted:
        services.cycle_run(robot_id=robot.pk, token="count")
    counts.sql_fan_out = counted[0]
    middle = redis_calls(redis)
    counts.redis_fan_out = middle - before
    with sql_counter() as counted:
        drain_in_process()
    counts.sql_jobs, counts.connects = counted
    counts.redis_jobs = max(redis_calls(redis) - middle - idle, 0)
    drop_robot(robot)
    return counts


def profile(*, records: int, chunk: int, target: str, source: str, make_robot: Callable[..., Any]) -> str:
    """Drain one cycle's record jobs in process (``drain_in_process``) under cProfile; return the top costs."""
    from robot import services

    robot = make_robot(batch_size=records, chunk=chunk, target=target, source=source, token="profile")
    services.cycle_run(robot_id=robot.pk, token="profile")
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    drain_in_process()
    profiler.disable()
    elapsed = time.monotonic() - started
    drop_robot(robot)
    out = io.StringIO()
    out.write(f"{records} records, chunk_size {chunk}, target {'yes' if target else 'no'}: {elapsed:.2f} s\n")
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()
