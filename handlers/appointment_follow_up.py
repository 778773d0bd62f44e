"""APPOINTMENT_FOLLOW_UP: a satisfaction survey, only if the appointment took place."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from handlers.appointments import current_appointment
from handlers.models import AppointmentStatus, Participant
from handlers.payload import require
from handlers.services.notifications import notify_participants
from scheduling import SkipOccurrence, event_type
from scheduling.models import Occurrence, ScheduledEvent


# A survey the same day is still welcome; the next day it is not.
@event_type("APPOINTMENT_FOLLOW_UP", misfire_grace=timedelta(hours=6))
def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, ["appointment_id", "follow_up_type"])
    appointment = current_appointment(fields["appointment_id"])
    if appointment.status != AppointmentStatus.COMPLETED:
        raise SkipOccurrence(f"appointment did not take place (status {appointment.status})")

    def render(participant: Participant) -> tuple[str, str]:
        return (
            f"How was {appointment.title}?",
            f"Hello {participant.user.get_username()},\n\n"
            f"Thank you for attending {appointment.title}. "
            "Please tell us how it went in a short survey.\n",
        )

    return notify_participants(
        occurrence=occurrence, appointment=appointment, kind=fields["follow_up_type"], render=render
    )
