"""What the appointment handlers share: finding the appointment, showing its time."""

from __future__ import annotations

from handlers.errors import SkipOccurrence
from scheduling.models import Appointment, AppointmentStatus


def current_appointment(appointment_id: str, start_time: str | None = None) -> Appointment:
    """The appointment an event is about; skip the firing if the event is stale.

    Stale: the appointment is gone, no longer booked, or (when ``start_time``
    is given) has moved since the event was scheduled.
    """
    appointment = Appointment.objects.filter(pk=appointment_id).first()
    if appointment is None:
        raise SkipOccurrence("stale event: the payload's appointment_id names no appointment")
    if start_time is not None and appointment.status != AppointmentStatus.BOOKED:
        raise SkipOccurrence(f"stale event: appointment is {appointment.status}")
    if start_time is not None and appointment.start_time.isoformat() != start_time:
        raise SkipOccurrence("stale event: appointment moved")
    return appointment


def local_start_text(appointment: Appointment, tz: str) -> str:
    """E.g. "Wed 02 Dec 2026 09:00 EST (America/New_York)"."""
    local = appointment.get_local_start_time(tz)
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({tz})"
