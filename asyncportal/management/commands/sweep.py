"""Run the sweeper: re-enqueue what Redis lost and re-arm robots whose chain is gone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from asyncportal import sweeper


class Command(BaseCommand):
    help = "Every SWEEP_INTERVAL seconds: enqueue pending registrations, heal robot chains and stalled records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Sweep once and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            sweeper.sweep_once()
        else:
            sweeper.run_forever()
