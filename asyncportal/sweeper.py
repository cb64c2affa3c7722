"""The sweeper process: the one periodic loop of the product (never a thread in a web process)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from django.conf import settings
from django.db import close_old_connections

from registration.services import registration_enqueue_stale
from robot.services import robot_heal_all, robot_tick

logger = logging.getLogger(__name__)


def sweep_once() -> None:
    """Run each sweep step; a failing step is logged and does not stop the others."""
    for step in (registration_enqueue_stale, robot_heal_all):
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
