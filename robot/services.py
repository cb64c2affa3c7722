"""Robot business rules (stub: filled in by the robot work)."""

from __future__ import annotations


def robot_heal_all() -> int:
    """Re-arm running robots whose chain is gone and re-enqueue lost records; return how many were healed."""
    return 0


def robot_ensure_demo(*, source_url: str) -> str:
    """Create the stopped demo robot if missing; return its name."""
    return "demo"
