"""The work the apps hand to Core: sweep steps, prune steps, tickers and bootstrap steps.

Core imports no app (an import-linter contract in pyproject.toml keeps it so). Each app declares its steps in
its ``AppConfig.ready()``; the sweeper, ``manage.py prune`` and ``manage.py bootstrap`` run what is registered
here, lowest ``order`` first (ties by name), so the order is stated where a step is declared, not implied by
``INSTALLED_APPS``. Registering a name again replaces the step, so a second ``ready()`` adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

SweepStep = Callable[[], object]
Tick = Callable[[], object]
F = TypeVar("F")


class PruneStep(Protocol):
    """Apply one retention setting; return ``{kind: rows pruned}`` (with ``dry_run``, that would be)."""

    def __call__(self, *, dry_run: bool = False) -> dict[str, int]: ...


class BootstrapStep(Protocol):
    """Ensure something ``make run`` needs exists; return one line telling the developer what there is."""

    def __call__(self, *, base_url: str) -> str: ...


@dataclass(frozen=True)
class Step(Generic[F]):
    name: str
    run: F
    order: int


@dataclass(frozen=True)
class Ticker:
    """A call repeated every ``interval()`` seconds in its own sweeper thread (finer than a sweep)."""

    name: str
    run: Tick
    interval: Callable[[], float]


@dataclass
class Steps:
    sweep: dict[str, Step[SweepStep]] = field(default_factory=dict)
    prune: dict[str, Step[PruneStep]] = field(default_factory=dict)
    bootstrap: dict[str, Step[BootstrapStep]] = field(default_factory=dict)
    tickers: dict[str, Ticker] = field(default_factory=dict)


# The one registry of the process; tests swap in a fresh ``Steps()`` with monkeypatch.
steps = Steps()


def register_sweep_step(name: str, run: SweepStep, *, order: int) -> None:
    """Run ``run()`` once per sweep (every ``SWEEP_INTERVAL``); a failure is logged and the next step runs."""
    steps.sweep[name] = Step(name, run, order)


def register_prune_step(name: str, run: PruneStep, *, order: int) -> None:
    """Run ``run(dry_run=…)`` on ``manage.py prune`` and every ``PRUNE_INTERVAL`` in the sweeper."""
    steps.prune[name] = Step(name, run, order)


def register_bootstrap_step(name: str, run: BootstrapStep, *, order: int) -> None:
    """Run ``run(base_url=…)`` on ``manage.py bootstrap`` (``make run``), after the admin account exists."""
    steps.bootstrap[name] = Step(name, run, order)


def register_ticker(name: str, run: Tick, *, interval: Callable[[], float]) -> None:
    """Run ``run()`` in a sweeper thread every ``interval()`` seconds (read at each turn, so settings apply)."""
    steps.tickers[name] = Ticker(name, run, interval)


def _ordered(registered: dict[str, Step[F]]) -> list[Step[F]]:
    return sorted(registered.values(), key=lambda step: (step.order, step.name))


def sweep_steps() -> list[Step[SweepStep]]:
    return _ordered(steps.sweep)


def prune_steps() -> list[Step[PruneStep]]:
    return _ordered(steps.prune)


def bootstrap_steps() -> list[Step[BootstrapStep]]:
    return _ordered(steps.bootstrap)


def tickers() -> list[Ticker]:
    return sorted(steps.tickers.values(), key=lambda ticker: ticker.name)
