"""DATA_CLEANUP: delete run history older than ``days_to_keep`` (default 90)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from handlers.errors import SkipOccurrence
from scheduling.models import Occurrence, ScheduledEvent
from scheduling.services.occurrences import purge_history

DEFAULT_DAYS_TO_KEEP = 90


def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    days = event.payload.get("days_to_keep", DEFAULT_DAYS_TO_KEEP)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise SkipOccurrence("the payload's days_to_keep must be a positive integer")
    cutoff = timezone.now() - timedelta(days=days)
    deleted = purge_history(older_than=cutoff)
    return {"days_to_keep": days, "cutoff": cutoff.isoformat(), **deleted}
