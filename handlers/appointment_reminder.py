"""APPOINTMENT_REMINDER: e-mail every participant, the start shown in their own zone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.appointments import current_appointment, local_start_text
from handlers.models import Participant
from handlers.payload import require
from handlers.services.notifications import notify_participants
from scheduling import event_type
from scheduling.models import Occurrence, ScheduledEvent

LEAD_TIMES = {
    "24_hour_reminder": "in 24 hours",
    "2_hour_reminder": "in 2 hours",
    "15_minute_reminder": "in 15 minutes",
}


# A "15 minutes before" reminder is useless much later than that.
@event_type("APPOINTMENT_REMINDER", misfire_grace=timedelta(minutes=10))
def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, ["appointment_id", "reminder_type", "start_time"])
    # Skips (raises) for a cancelled or moved appointment: the reminder is stale.
    appointment = current_appointment(fields["appointment_id"], fields["start_time"])
    lead = LEAD_TIMES.get(fields["reminder_type"], "soon")

    def render(participant: Participant) -> tuple[str, str]:
        when = local_start_text(appointment, participant.display_timezone)
        return (
            f"Reminder: {appointment.title} starts {lead}",
            f"Hello {participant.user.get_username()},\n\n"
            f"{appointment.title} starts {lead}, at {when}.\n",
        )

    return notify_participants(
        occurrence=occurrence, appointment=appointment, kind=fields["reminder_type"], render=render
    )
