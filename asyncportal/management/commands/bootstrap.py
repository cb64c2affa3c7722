"""Ensure an admin account and what the apps registered (the demo robot) exist (used by ``make run``)."""

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
        for line in services.bootstrap_steps_run(base_url=options["base_url"]):
            self.stdout.write(line)
