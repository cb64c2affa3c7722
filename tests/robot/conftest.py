from __future__ import annotations

from tests.robot.support import boss, drip, start_sweeper, stub, target

__all__ = ["boss", "drip", "start_sweeper", "stub", "target"]
