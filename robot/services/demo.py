"""The built-in demo source: an endless, deterministic todo feed, and the demo robot that reads it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from robot.models import BATCH_MAX, Robot

DEMO_NAME = "demo"
DEMO_MSG = "Demo robot: reads the built-in todo feed."
FEED_DEFAULT_LIMIT = 20
# The largest ``limit`` accepted: what one robot cycle may ask for. ROBOT_DEMO_FEED_MAX_ITEMS caps what is served.
FEED_MAX_LIMIT = BATCH_MAX
_VERBS = ("Call", "Email", "Review", "Plan", "Fix", "Write", "Order", "Clean", "Test", "Ship")
_OBJECTS = ("the report", "the customer", "the invoice", "the backlog", "the deploy", "the docs", "the garden")
_EPOCH = date(2023, 7, 11)  # the day the original post was published


def demo_todo(todo_id: int) -> dict[str, Any]:
    """Return todo ``todo_id``, shaped like the original's public todo list; the same id gives the same item."""
    mixed = (todo_id * 2_654_435_761) % 2**32  # Knuth's multiplicative hash: stable, spread out
    return {
        "id": todo_id,
        "user_id": 1000 + mixed % 500,
        "title": f"{_VERBS[mixed % len(_VERBS)]} {_OBJECTS[(mixed >> 8) % len(_OBJECTS)]} #{todo_id}",
        "due_on": (_EPOCH + timedelta(days=(mixed >> 16) % 365)).isoformat(),
        "status": "completed" if (mixed >> 4) % 3 == 0 else "pending",
    }


def demo_todos(*, limit: int, after: int) -> list[dict[str, Any]]:
    """Return the ``limit`` todos whose ids follow ``after``."""
    return [demo_todo(todo_id) for todo_id in range(after + 1, after + limit + 1)]


def robot_ensure_demo(*, source_url: str) -> str:
    """Create the stopped demo robot if missing (or point a stopped one at ``source_url``); return its name."""
    try:
        with transaction.atomic():
            robot = Robot.objects.select_for_update().filter(name=DEMO_NAME).first()
            if robot is None:
                Robot.objects.create(name=DEMO_NAME, msg=DEMO_MSG, source_url=source_url)
            elif not robot.is_running and robot.source_url != source_url:
                robot.source_url = source_url
                robot.save(update_fields=["source_url", "updated_at"])
    except IntegrityError:
        pass  # Created concurrently by another bootstrap: nothing left to do.
    return DEMO_NAME


def robot_bootstrap_demo(*, base_url: str) -> str:
    """Ensure the demo robot (stopped) reads this portal's demo feed; say which, or why there is none."""
    if not settings.ROBOT_DEMO_FEED:
        return "Demo robot: none (ROBOT_DEMO_FEED is off, so there is no feed for it to read)"
    name = robot_ensure_demo(source_url=f"{base_url.rstrip('/')}/api/demo/todos/")
    return f"Demo robot: {name} (stopped until started in the admin)"
