"""Fire once each slot missed in a window: ``manage.py backfill_events --since ...``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from scheduling.models import ScheduledEvent
from scheduling.services.controls import backfill_events
from scheduling.timecheck import TimeValueError, parse_instant, to_utc


class Command(BaseCommand):
    help = (
        "Fire once each slot of the scheduled events in [--since, --until] that has not run "
        "(never claimed, or recorded as missed). Running it again fires nothing more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since", required=True, help="ISO 8601 with offset: 2026-12-01T00:00:00+01:00"
        )
        parser.add_argument("--until", help="ISO 8601 with offset (default: now)")
        parser.add_argument("--type", dest="event_type", help="Only events of this type")
        parser.add_argument("--entity", dest="entity_id", help="Only events of this entity")
        parser.add_argument("--service-id", default="backend", help="Service (default: backend)")
        parser.add_argument(
            "--max-per-event", type=int, default=1000, help="Most slots fired per event (1000)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        since = _instant("--since", options["since"])
        until = _instant("--until", options["until"]) if options["until"] else now
        if since > until:
            raise CommandError("--since must be before --until")
        if options["max_per_event"] < 1:
            raise CommandError("--max-per-event must be 1 or more")
        events = ScheduledEvent.objects.filter(service_id=options["service_id"])
        if options["event_type"]:
            events = events.filter(event_type=options["event_type"])
        if options["entity_id"]:
            events = events.filter(entity_id=options["entity_id"])
        done = backfill_events(
            events, since=since, until=until, max_per_event=options["max_per_event"]
        )
        self.stdout.write(
            f"Backfilled {done.fired} firings from {since.isoformat()} to {until.isoformat()}; "
            f"{done.already} had run already."
        )


def _instant(option: str, text: str) -> Any:
    try:
        return to_utc(parse_instant(text))
    except TimeValueError as exc:
        raise CommandError(f"{option}: {exc}") from None
