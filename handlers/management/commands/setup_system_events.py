"""Create the recurring system events, idempotently: run it at every deploy."""

from __future__ import annotations

from datetime import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from handlers.services.recurring import ensure_data_cleanup_event
from scheduling.validators import is_valid_timezone


class Command(BaseCommand):
    help = "Create (or update) the daily DATA_CLEANUP event. Safe to run at every deploy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days-to-keep", type=int, default=90)
        parser.add_argument("--at", default="03:00", help="Local time of day, HH:MM")
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days_to_keep"] < 1:
            raise CommandError("--days-to-keep must be at least 1")
        if not is_valid_timezone(options["timezone"]):
            raise CommandError(f"unknown IANA timezone: {options['timezone']!r}")
        try:
            at = time.fromisoformat(options["at"])
        except ValueError:
            raise CommandError("--at must be HH:MM") from None
        event = ensure_data_cleanup_event(
            days_to_keep=options["days_to_keep"], at=at, tz=options["timezone"]
        )
        next_run = event.next_run_at.isoformat() if event.next_run_at else "none"
        self.stdout.write(
            f"DATA_CLEANUP event {event.id}: daily at {at:%H:%M} {options['timezone']}, "
            f"keeping {options['days_to_keep']} days; next run {next_run}"
        )
