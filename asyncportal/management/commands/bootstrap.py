"""Ensure an admin account and the demo robot exist (used by ``make run``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from asyncportal import services


class Command(BaseCommand):
    help = "Ensure an admin (from DJANGO_SUPERUSER_* or 'admin' with a random password) and the demo robot."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where this portal is served.")

    def handle(self, *args: Any, **options: Any) -> None:
        admin = services.admin_ensure()
        if admin.password:
            self.stdout.write(f"Admin created: username={admin.username} password={admin.password} (shown once)")
        else:
            self.stdout.write(f"Admin: username={admin.username}")
        robot_name = services.demo_robot_ensure(base_url=options["base_url"])
        if robot_name is None:
            self.stdout.write("Demo robot: none (ROBOT_DEMO_FEED is off, so there is no feed for it to read)")
        else:
            self.stdout.write(f"Demo robot: {robot_name} (stopped until started in the admin)")
