"""Run by test_control in several processes at once: POST start through the real API view, print the status.

Usage: python -m tests.robot.concurrent_start <robot> <barrier-dir> <index>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import django


def main(name: str, barrier: Path, index: str) -> int:
    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    connection.ensure_connection()  # Connect before the barrier so the requests collide as closely as possible.
    (barrier / f"ready-{index}").touch()
    deadline = time.monotonic() + 60
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            return 2  # The test never said go: fail rather than hang.
        time.sleep(0.005)
    response = Client().post(
        f"/api/robots/{name}/start/",
        data={"timedelta": 1, "rplstatus": "START"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {settings.ROBOT_API_TOKEN}",
        HTTP_HOST="localhost",
    )
    print(response.status_code, response.content.decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))
