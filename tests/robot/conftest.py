from __future__ import annotations

from tests.robot.support import start_sweeper, stub, target

__all__ = ["start_sweeper", "stub", "target"]
