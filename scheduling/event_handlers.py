"""The engine's built-in event type: DATA_CLEANUP purges the engine's own history.

Found by ``scheduling.registry.autodiscover`` like any app's ``event_handlers``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from scheduling.models import Occurrence, ScheduledEvent
from scheduling.outcomes import PermanentError
from scheduling.registry import event_type
from scheduling.services.occurrences import purge_history

DEFAULT_DAYS_TO_KEEP = 90


@event_type("DATA_CLEANUP", misfire_grace=None)
def purge_old_history(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    """Delete finished occurrences and task results older than ``days_to_keep`` (default 90)."""
    days = event.payload.get("days_to_keep", DEFAULT_DAYS_TO_KEEP)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise PermanentError("the payload's days_to_keep must be a positive integer")
    cutoff = timezone.now() - timedelta(days=days)
    deleted = purge_history(older_than=cutoff)
    return {"days_to_keep": days, "cutoff": cutoff.isoformat(), **deleted}
