"""Prometheus metrics of the robots, computed from the database at scrape time in four aggregate queries.

Nothing is counted per record as it happens: counters come from the frozen counts of finished cycles (a cycle
row never changes once finished), gauges from the robot rows and the unfinished cycles' records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Count, DurationField, ExpressionWrapper, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from robot.models import PENDING, ProcessedRecord, Robot, RobotCycle

PREFIX = "asyncportal_robot"
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
OUTCOMES = {"done": "done", "failed": "failed", "duplicates": "duplicate", "cancelled": "cancelled"}
ENDED = (RobotCycle.Status.FINISHED, RobotCycle.Status.FAILED, RobotCycle.Status.CANCELLED)


class RobotCollector(Collector):
    """Yield every robot metric family; ``collect`` runs the queries, so each scrape sees the database now."""

    def collect(self) -> Iterator[Metric]:
        robots = _robots()
        names = {robot["pk"]: robot["name"] for robot in robots}
        yield from _robot_gauges(robots, timezone.now())
        yield from _cycle_counters(names)
        yield _duration_histogram(names)
        yield _in_flight(names)


def _robots() -> list[dict[str, Any]]:
    last = RobotCycle.objects.filter(robot=OuterRef("pk"), finished_at__isnull=False).order_by("-finished_at")
    return cast(
        list[dict[str, Any]],
        list(
            Robot.objects.annotate(
                last_started=Subquery(last.values("started_at")[:1]),
                last_finished=Subquery(last.values("finished_at")[:1]),
            ).values("pk", "name", "state", "interval", "failed_cycles_in_a_row", "last_started", "last_finished")
        ),
    )


def _robot_gauges(robots: list[dict[str, Any]], now: datetime) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        f"{PREFIX}_state", "1 for the robot's current state, 0 for the others.", labels=["robot", "state"]
    )
    interval = GaugeMetricFamily(f"{PREFIX}_interval_seconds", "Pause between cycles.", labels=["robot"])
    streak = GaugeMetricFamily(
        f"{PREFIX}_failed_cycles_in_a_row", "Consecutive failed cycles (pauses at max_failed_cycles).", labels=["robot"]
    )
    duration = GaugeMetricFamily(
        f"{PREFIX}_last_cycle_duration_seconds", "Duration of the last finished cycle.", labels=["robot"]
    )
    since = GaugeMetricFamily(
        f"{PREFIX}_seconds_since_last_cycle_end", "Seconds since the last cycle finished.", labels=["robot"]
    )
    for robot in robots:
        for choice in Robot.State.values:
            state.add_metric([robot["name"], choice], 1.0 if robot["state"] == choice else 0.0)
        interval.add_metric([robot["name"]], robot["interval"])
        streak.add_metric([robot["name"]], robot["failed_cycles_in_a_row"])
        if robot["last_finished"] is not None:
            duration.add_metric([robot["name"]], _seconds(robot["last_finished"] - robot["last_started"]))
            since.add_metric([robot["name"]], _seconds(now - robot["last_finished"]))
    yield from (state, interval, streak, duration, since)


def _cycle_counters(names: dict[int, str]) -> Iterator[Metric]:
    cycles = CounterMetricFamily(f"{PREFIX}_cycles", "Ended cycles by status.", labels=["robot", "status"])
    records = CounterMetricFamily(
        f"{PREFIX}_records",
        "Record outcomes counted by ended cycles (a retried record counts again).",
        labels=["robot", "outcome"],
    )
    fetched = CounterMetricFamily(f"{PREFIX}_fetched_records", "Items taken from the source.", labels=["robot"])
    sums = {field: Sum(field) for field in (*OUTCOMES, "fetched")}
    rows: Any = RobotCycle.objects.filter(status__in=ENDED).values("robot_id", "status").annotate(n=Count("pk"), **sums)
    counts: dict[tuple[int, str], float] = {}
    totals: dict[tuple[int, str], float] = {}
    for row in rows:
        counts[row["robot_id"], row["status"]] = row["n"]
        for field in (*OUTCOMES, "fetched"):
            totals[row["robot_id"], field] = totals.get((row["robot_id"], field), 0) + (row[field] or 0)
    # Every series exists from the robot's creation on (zeros included), so increase() sees its first cycles.
    for pk, robot in names.items():
        for status in ENDED:
            cycles.add_metric([robot, status], counts.get((pk, status), 0))
        for field, outcome in OUTCOMES.items():
            records.add_metric([robot, outcome], totals.get((pk, field), 0))
        fetched.add_metric([robot], totals.get((pk, "fetched"), 0))
    yield from (cycles, records, fetched)


def _duration_histogram(names: dict[int, str]) -> Metric:
    """Cumulative buckets of every ended cycle's duration, counted by the database in one query."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    buckets = {f"le_{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=b))) for i, b in enumerate(DURATION_BUCKETS)}
    rows: Any = (
        RobotCycle.objects.filter(finished_at__isnull=False)
        .annotate(took=duration)
        .values("robot_id")
        .annotate(n=Count("pk"), total=Sum("took"), **buckets)
    )
    histogram = HistogramMetricFamily(
        f"{PREFIX}_cycle_duration_seconds", "Durations of ended cycles (start to finish).", labels=["robot"]
    )
    for row in rows:
        if row["robot_id"] not in names:
            continue
        cumulative = [(str(b), float(row[f"le_{i}"])) for i, b in enumerate(DURATION_BUCKETS)]
        histogram.add_metric(
            [names[row["robot_id"]]], [*cumulative, ("+Inf", float(row["n"]))], _seconds(row["total"] or timedelta())
        )
    return histogram


def _in_flight(names: dict[int, str]) -> Metric:
    gauge = GaugeMetricFamily(f"{PREFIX}_records_in_flight", "Records queued or being delivered.", labels=["robot"])
    # Pending records belong to unfinished cycles only, so the (cycle, status) index keeps this small.
    pending = ProcessedRecord.objects.filter(cycle__finished_at__isnull=True, status__in=PENDING)
    counts = dict(pending.values("robot_id").annotate(n=Count("pk")).values_list("robot_id", "n"))
    for pk, robot in names.items():
        gauge.add_metric([robot], counts.get(pk, 0))
    return gauge


def _seconds(value: timedelta) -> float:
    return value.total_seconds()
