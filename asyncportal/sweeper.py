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

from asyncportal import registry

logger = logging.getLogger(__name__)


@dataclass
class Pruned:
    counts: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def prune(*, dry_run: bool = False) -> Pruned:
    """Run every registered prune step once; a failing step is logged and does not stop the others."""
    pruned = Pruned()
    for step in registry.prune_steps():
        try:
            pruned.counts.update(step.run(dry_run=dry_run))
        except Exception:
            logger.exception("prune step failed step=%s", step.name)
            pruned.failed.append(step.name)
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
    """Core's sweep step (registered last): prune hourly by default, not every sweep (pruning scans whole tables)."""
    if _prune_clock.due():
        logger.info("pruned %s", prune().counts)


def sweep_once() -> None:
    """Run each registered sweep step; a failing step is logged and does not stop the others."""
    for step in registry.sweep_steps():
        try:
            step.run()
        except Exception:
            logger.exception("sweep step failed step=%s", step.name)
        finally:
            close_old_connections()


def tick_forever(ticker: registry.Ticker, stop: threading.Event) -> None:
    """Call ``ticker`` every ``ticker.interval()`` seconds (finer than RQ's whole-second scheduler) until ``stop``."""
    while not stop.is_set():
        try:
            ticker.run()
        except Exception:
            logger.exception("tick failed ticker=%s", ticker.name)
            stop.wait(1.0)
        stop.wait(ticker.interval())


def run_forever() -> None:
    """Sweep every ``SWEEP_INTERVAL`` seconds, and run each ticker in a thread, until SIGTERM or SIGINT."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=tick_forever, args=(ticker, stop), name=f"{ticker.name}-ticker", daemon=True)
        for ticker in registry.tickers()
    ]

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("sweeper stopping signal=%s", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("sweeper started interval=%ss", settings.SWEEP_INTERVAL)
    for thread in threads:
        thread.start()
    while not stop.is_set():
        sweep_once()
        stop.wait(settings.SWEEP_INTERVAL)
    for thread in threads:
        thread.join(5)
