"""Robot business rules. Import from here; the submodules are an implementation detail."""

from __future__ import annotations

from robot.services.audit import SYSTEM, Actor
from robot.services.control import (
    robot_delete,
    robot_delete_refusal,
    robot_run_once,
    robot_save,
    robot_start,
    robot_stop,
)
from robot.services.cycle import cycle_run
from robot.services.demo import demo_todos, robot_bootstrap_demo, robot_ensure_demo
from robot.services.heal import robot_heal_all
from robot.services.params import model_values
from robot.services.queueing import tick as robot_tick
from robot.services.records import records_process
from robot.services.retention import robot_prune
from robot.services.retry import Retried, cycle_retry_failed, robot_retry_latest_failed

__all__ = [
    "SYSTEM",
    "Actor",
    "Retried",
    "model_values",
    "cycle_retry_failed",
    "cycle_run",
    "demo_todos",
    "records_process",
    "robot_delete",
    "robot_delete_refusal",
    "robot_bootstrap_demo",
    "robot_ensure_demo",
    "robot_heal_all",
    "robot_prune",
    "robot_retry_latest_failed",
    "robot_run_once",
    "robot_save",
    "robot_start",
    "robot_tick",
    "robot_stop",
]
