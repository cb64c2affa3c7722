"""The sweeper process: the one periodic loop of the product (never a thread in a web process)."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from django.conf import settings
from django.db import close_old_connections

from registration.services import registration_enqueue_stale
from robot.services import robot_heal_all

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


def run_forever() -> None:
    """Sweep every ``SWEEP_INTERVAL`` seconds until SIGTERM or SIGINT."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        logger.info("sweeper stopping signal=%s", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("sweeper started interval=%ss", settings.SWEEP_INTERVAL)
    while not stop.is_set():
        sweep_once()
        stop.wait(settings.SWEEP_INTERVAL)
