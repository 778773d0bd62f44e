"""List upcoming events, as the original guide's ``check_events`` did."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scheduling.exceptions import EventValidationError
from scheduling.selectors import get_upcoming_events


class Command(BaseCommand):
    help = "List upcoming scheduled events (id, type, time in the given zone) and their count."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--entity-id", help="Only events of this entity")
        parser.add_argument("--service-id", default="backend", help="Service (default: backend)")
        parser.add_argument("--days", type=int, default=7, help="Days to look ahead (default 7)")
        parser.add_argument("--timezone", default="UTC", help="IANA zone to show times in")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["days"] < 0:
            raise CommandError("--days must not be negative")
        now = timezone.now()
        try:
            events = get_upcoming_events(
                service_id=options["service_id"],
                entity_id=options["entity_id"],
                start_time=now,
                end_time=now + timedelta(days=options["days"]),
                timezone=options["timezone"],
            )
        except EventValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"Found {len(events)} upcoming events")
        for event in events:
            self.stdout.write(f"  - {event['id']}: {event['type']} at {event['scheduled_time']}")
