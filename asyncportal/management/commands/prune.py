"""Apply the retention settings once (the sweeper does this every PRUNE_INTERVAL)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from asyncportal import sweeper


class Command(BaseCommand):
    help = "Clear old record payloads; delete old cycles, audit, finished registrations and failed RQ jobs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be pruned; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        pruned = sweeper.prune(dry_run=dry_run)
        verb = "would prune" if dry_run else "pruned"
        for kind, count in pruned.counts.items():
            self.stdout.write(f"{kind}: {verb} {count}")
        if pruned.failed:
            raise CommandError(f"prune failed: {', '.join(pruned.failed)} (see the log)")
