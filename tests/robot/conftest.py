from __future__ import annotations

from tests.robot.support import drip, start_sweeper, stub, target

__all__ = ["drip", "start_sweeper", "stub", "target"]
