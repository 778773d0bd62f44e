"""Event type → handler. A new type is one module and one line here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers import (
    appointment_follow_up,
    appointment_reminder,
    business_rule,
    data_cleanup,
    report_generation,
)
from scheduling.models import EventType, Occurrence, ScheduledEvent

Handler = Callable[[ScheduledEvent, Occurrence], dict[str, Any]]

HANDLERS: dict[str, Handler] = {
    EventType.APPOINTMENT_REMINDER: appointment_reminder.handle,
    EventType.APPOINTMENT_FOLLOW_UP: appointment_follow_up.handle,
    EventType.BUSINESS_RULE: business_rule.handle,
    EventType.REPORT_GENERATION: report_generation.handle,
    EventType.DATA_CLEANUP: data_cleanup.handle,
}


def get_handler(event_type: str) -> Handler | None:
    """The handler for ``event_type``; None when none is registered."""
    return HANDLERS.get(event_type)
