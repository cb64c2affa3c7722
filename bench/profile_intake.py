"""Profile POST /api/registrations/ in-process with pyinstrument: where does one submission spend its time?

Run: ``.venv/bin/python -m bench.profile_intake [--requests N] [--database-url URL]``. Always a private Redis; a
throwaway SQLite database unless ``--database-url`` names another (it is migrated and written to). Prints
pyinstrument's call tree, then every frame ranked by total time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from asyncportal import localredis


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncportal-profile-") as tmp:
        server = localredis.start(Path(tmp) / "redis", persistent=False)
        os.environ["REDIS_URL"] = server.url
        os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp}/profile.sqlite3"
        os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
        os.environ["REGISTRATION_RATE_LIMIT"] = "0"  # volume is the point; the rate limit must not refuse it
        try:
            print(profile(args.requests))
        finally:
            server.stop()
    return 0


def profile(requests: int) -> str:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import close_old_connections
    from django.test import Client
    from pyinstrument import Profiler

    call_command("migrate", "--noinput", verbosity=0)
    client = Client(SERVER_NAME="127.0.0.1")  # an ALLOWED_HOSTS name of the local settings
    person = {"first_name": "Prof", "last_name": "Iler", "phone": "+380501234567"}

    def submit(i: int) -> None:
        body = {**person, "login": f"prof{i}", "email": f"prof{i}@example.com"}
        response = client.post("/api/registrations/", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 202, response.content
        # What a server's request_finished does and the test client skips: a connection past CONN_MAX_AGE is
        # closed and the next request opens it again, which a gunicorn worker pays for.
        close_old_connections()

    for i in range(20):  # warm-up: imports, URL resolver, first connections
        submit(requests + i)
    profiler = Profiler(interval=0.0005)
    with profiler:
        for i in range(requests):
            submit(i)
    tree = profiler.output_text(show_all=False)
    flat = profiler.output_text(flat=True, flat_time="total", show_all=True)
    # The flat view ranks every frame by its total time: library internals (connect, commit) show up there.
    return f"{tree}\n{chr(10).join(flat.splitlines()[:60])}\n(ms per request = seconds / {requests} * 1000)"


if __name__ == "__main__":
    sys.exit(main())
