"""What the appointment handlers share: finding the appointment, showing its time."""

from __future__ import annotations

from handlers.models import Appointment, AppointmentStatus
from scheduling import PermanentError, SkipOccurrence


def current_appointment(appointment_id: str, start_time: str | None = None) -> Appointment:
    """The appointment an event is about; skip the firing if the event is stale.

    Stale: the appointment is no longer booked, or (when ``start_time`` is
    given) has moved since the event was scheduled. An id that is not an
    appointment's, or names none, is a PermanentError: retrying cannot help.
    """
    text = str(appointment_id)
    # Digits only, and few enough for a 64-bit primary key.
    if not (text.isascii() and text.isdecimal() and len(text) <= 18):
        raise PermanentError("the payload's appointment_id is not an appointment id")
    appointment = Appointment.objects.filter(pk=int(text)).first()
    if appointment is None:
        raise PermanentError("the payload's appointment_id names no appointment")
    if start_time is not None and appointment.status != AppointmentStatus.BOOKED:
        raise SkipOccurrence(f"stale event: appointment is {appointment.status}")
    if start_time is not None and appointment.start_time.isoformat() != start_time:
        raise SkipOccurrence("stale event: appointment moved")
    return appointment


def local_start_text(appointment: Appointment, tz: str) -> str:
    """E.g. "Wed 02 Dec 2026 09:00 EST (America/New_York)"."""
    local = appointment.get_local_start_time(tz)
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()} ({tz})"
