"""Read side of the operator's console: what the robot's admin page and list show, from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format

from asyncportal import queue_stats
from asyncportal.queues import RECORDS, ROBOT
from robot import chart
from robot.models import Robot, RobotCycle
from robot.selectors import cycle_dict

PAUSED = "paused"
# Which of the control operations make sense in each phase; the admin offers only those it knows.
PHASE_OPERATIONS = {
    "running": ("stop", "stop-now", "retry-failed"),
    "stopped": ("start", "run-once", "retry-failed"),
    PAUSED: ("start", "run-once", "retry-failed"),
}
# What went wrong, by RobotCycle.error_code; the cycle's own error text says the details.
ERROR_LEADS = {
    "fetch_timeout": "The source did not answer in time",
    "fetch_http_status": "The source refused the fetch",
    "fetch_network": "The source could not be reached",
    "fetch_too_large": "The source's answer was too large",
    "fetch_not_json": "The source's answer was not JSON",
    "fetch_wrong_shape": "The source's answer was not a list of records",
    "fan_out_failed": "The fetched records could not be stored and queued",
    "worker_lost": "The worker running the cycle was lost",
}


def robot_phase(robot: Robot) -> str:
    """Return "running", "stopped" or "paused" (stopped by the robot itself after failed cycles)."""
    return str(robot.state)


def human_seconds(seconds: float | None) -> str:
    """Return a duration as people say it: "0.4 s", "12 s", "3 min 4 s", "2 h 5 min"."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def human_time(value: datetime | None, now: datetime) -> str:
    """Return "14:02:11 (3 min 4 s ago)", with the date when it is not today."""
    if value is None:
        return "-"
    local = timezone.localtime(value)
    shown = date_format(local, "H:i:s" if local.date() == timezone.localtime(now).date() else "Y-m-d H:i:s")
    return f"{shown} ({human_seconds(max((now - value).total_seconds(), 0))} ago)"


def seconds_to_next(robot: Robot, current: RobotCycle | None, now: datetime) -> float | None:
    """Return how long until the next cycle starts; None when none is scheduled or one is running."""
    if current is not None or robot.next_run_at is None or not robot.chain_token:
        return None
    return max((robot.next_run_at - now).total_seconds(), 0.0)


def error_sentence(cycle: RobotCycle | None, now: datetime) -> str:
    """Return the cycle's failure as one sentence: what happened, what the source answered, when."""
    if cycle is None or not (cycle.error or cycle.error_code):
        return ""
    lead = ERROR_LEADS.get(cycle.error_code, f"Cycle {cycle.number} ended {cycle.status}")
    detail = f": {cycle.error}" if cycle.error else ""
    return f"{lead}{detail} — cycle {cycle.number}, {human_time(cycle.finished_at or cycle.started_at, now)}."


@dataclass
class Progress:
    """A cycle's outcome counts as parts of its fetched records, for the progress bar."""

    fetched: int
    done: int
    failed: int
    duplicates: int
    cancelled: int
    seconds: float
    status: str

    @property
    def settled(self) -> int:
        return self.done + self.failed + self.duplicates + self.cancelled

    @property
    def percent(self) -> dict[str, float]:
        total = max(self.fetched, 1)
        parts = {"done": self.done, "failed": self.failed, "duplicates": self.duplicates, "cancelled": self.cancelled}
        return {name: round(100 * value / total, 1) for name, value in parts.items()}

    @property
    def rate(self) -> str:
        """Records handled per second (done or failed) since the cycle started."""
        if self.seconds <= 0:
            return "-"
        return f"{(self.done + self.failed) / self.seconds:.1f}"


def progress(cycle: RobotCycle, now: datetime) -> Progress:
    counts = cycle_dict(cycle)  # live counts for a running cycle
    end = cycle.finished_at or now
    return Progress(
        fetched=counts["fetched"],
        done=counts["done"],
        failed=counts["failed"],
        duplicates=counts["duplicates"],
        cancelled=counts["cancelled"],
        seconds=(end - cycle.started_at).total_seconds(),
        status=cycle.status,
    )


def cycle_rows(cycles: list[RobotCycle], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "cycle": cycle,
            "started": human_time(cycle.started_at, now),
            "duration": human_seconds(cycle.duration) if cycle.finished_at else "running",
            "rate": progress(cycle, now).rate if cycle.finished_at else "-",
            "error": error_sentence(cycle, now),
        }
        for cycle in cycles
    ]


def retryable(recent: list[RobotCycle], current: RobotCycle | None) -> bool:
    """Offer "Retry failed records" only with no cycle open and a recent finished cycle that had failures."""
    return current is None and any(cycle.finished_at is not None and cycle.failed > 0 for cycle in recent)


def panel(robot: Robot, operations: tuple[str, ...], *, now: datetime | None = None) -> dict[str, Any]:
    """Return everything the control panel shows; ``operations`` are the ones the admin can perform."""
    now = now or timezone.now()
    phase = robot_phase(robot)
    recent = list(RobotCycle.objects.filter(robot=robot).order_by("-number")[:20])
    current = next((cycle for cycle in recent if cycle.finished_at is None), None)
    failed = next((cycle for cycle in recent if cycle.status == RobotCycle.Status.FAILED), None)
    stats = queue_stats.queue_stats((ROBOT, RECORDS))
    return {
        "robot": robot,
        "phase": phase,
        "paused_reason": robot.paused_reason,
        "operations": [
            name
            for name in PHASE_OPERATIONS.get(phase, PHASE_OPERATIONS["stopped"])
            if name in operations and (name != "retry-failed" or retryable(recent, current))
        ],
        "next_in": seconds_to_next(robot, current, now),
        "current": current,
        "progress": progress(current, now) if current else None,
        "last_error": error_sentence(failed, now),
        "chart": chart.cycles_chart([cycle for cycle in reversed(recent) if cycle.finished_at is not None]),
        "cycles": cycle_rows(recent[:10], now),
        "audits": [(audit, human_time(audit.created_at, now)) for audit in robot.audits.all()[:10]],
        "queues": stats,
    }
