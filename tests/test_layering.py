"""Core stands alone: importing asyncportal's modules loads no app; the apps hand Core their steps in order.

The full layering (apps never import each other, edge -> services -> models, outbound HTTP only from
services) is the import-linter contracts in pyproject.toml, run by ``make lint``; this adds the runtime view.
"""

from __future__ import annotations

import subprocess
import sys

from asyncportal import registry
from asyncportal.env import BASE_DIR

CORE_MODULES = (
    "asyncportal.sweeper",
    "asyncportal.services",
    "asyncportal.registry",
    "asyncportal.health",
    "asyncportal.queues",
    "asyncportal.management.commands.bootstrap",
    "asyncportal.management.commands.prune",
    "asyncportal.management.commands.sweep",
)
# Django set up without the apps, so nothing but Core's own imports can load them. The URL conf and settings
# are left out: they name the apps as strings (INSTALLED_APPS, include("robot.urls")) to compose the project.
PROBE = f"""
import sys
import django
from django.conf import settings
from asyncportal.settings import test as base
values = {{name: getattr(base, name) for name in dir(base) if name.isupper()}}
values["INSTALLED_APPS"] = [app for app in base.INSTALLED_APPS if app not in ("robot", "registration")]
settings.configure(**values)
django.setup()
import {", ".join(CORE_MODULES)}
print(sorted(name for name in sys.modules if name.split(".")[0] in ("robot", "registration")))
"""


def test_importing_core_modules_imports_no_app() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_sweep_steps_run_registration_then_robot_then_core_pruning() -> None:
    assert [step.name for step in registry.sweep_steps()] == [
        "registration_enqueue_stale",
        "robot_heal_all",
        "prune_when_due",
    ]


def test_prune_steps_run_robot_then_registration_then_failed_jobs() -> None:
    assert [step.name for step in registry.prune_steps()] == ["robot_prune", "registration_prune", "failed_jobs_prune"]


def test_robot_registers_its_ticker_and_demo_bootstrap() -> None:
    assert [ticker.name for ticker in registry.tickers()] == ["robot"]
    assert [step.name for step in registry.bootstrap_steps()] == ["robot_bootstrap_demo"]


def test_registering_a_name_again_replaces_the_step(monkeypatch) -> None:
    monkeypatch.setattr(registry, "steps", registry.Steps())
    registry.register_sweep_step("a", lambda: None, order=2)
    registry.register_sweep_step("b", lambda: None, order=1)
    registry.register_sweep_step("a", lambda: None, order=0)
    assert [(step.name, step.order) for step in registry.sweep_steps()] == [("a", 0), ("b", 1)]
