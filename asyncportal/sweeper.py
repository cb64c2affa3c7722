"""The sweeper process: the one periodic loop of the product (never a thread in a web process)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from django.conf import settings
from django.db import close_old_connections

from asyncportal.queues import failed_jobs_prune
from registration.retention import registration_prune
from registration.services import registration_enqueue_stale
from robot.services import robot_heal_all, robot_prune, robot_tick

logger = logging.getLogger(__name__)

# Each returns {kind: rows pruned (or, with dry_run, that would be)}.
PRUNE_STEPS: tuple[Callable[..., dict[str, int]], ...] = (robot_prune, registration_prune, failed_jobs_prune)


@dataclass
class Pruned:
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def prune(*, dry_run: bool = False) -> Pruned:
    """Apply every retention setting once; a failing step is logged and does not stop the others."""
    pruned = Pruned()
    for step in PRUNE_STEPS:
        try:
            pruned.counts.update(step(dry_run=dry_run))
        except Exception:
            logger.exception("prune step failed step=%s", step.__name__)
            pruned.failed.append(step.__name__)
        finally:
            close_old_connections()
    return pruned


class Every:
    """Let a call through at most once per ``PRUNE_INTERVAL`` seconds of this process (the first at once).

    Kept in memory: a restarted sweeper prunes at once, which is harmless (pruning is idempotent).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.next_at: float | None = None

    def due(self) -> bool:
        now = self.clock()
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + settings.PRUNE_INTERVAL
        return True


_prune_clock = Every()


def prune_when_due() -> None:
    """The sweep's prune step: hourly by default, not every sweep (pruning scans whole tables)."""
    if _prune_clock.due():
        logger.info("pruned %s", prune().counts)


def sweep_once() -> None:
    """Run each sweep step; a failing step is logged and does not stop the others."""
    for step in (registration_enqueue_stale, robot_heal_all, prune_when_due):
        try:
            step()
        except Exception:
            logger.exception("sweep step failed step=%s", step.__name__)
        finally:
            close_old_connections()


def tick_forever(stop: threading.Event) -> None:
    """Start due robot cycles every ``ROBOT_TICK_SECONDS`` (finer than RQ's whole-second scheduler)."""
    while not stop.is_set():
        try:
            robot_tick()
        except Exception:
            logger.exception("robot tick failed")
            stop.wait(1.0)
        stop.wait(settings.ROBOT_TICK_SECONDS)


def run_forever() -> None:
    """Sweep every ``SWEEP_INTERVAL`` seconds, and tick robots in a thread, until SIGTERM or SIGINT."""
    stop = threading.Event()
    ticker = threading.Thread(target=tick_forever, args=(stop,), name="robot-ticker", daemon=True)

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("sweeper stopping signal=%s", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("sweeper started interval=%ss", settings.SWEEP_INTERVAL)
    ticker.start()
    while not stop.is_set():
        sweep_once()
        stop.wait(settings.SWEEP_INTERVAL)
    ticker.join(5)
