"""Business rules: rule key → function. A new rule is one function and one line.

A rule receives its context (JSON from the BusinessRule row) and the instant
it runs for, acts, and returns a JSON summary that is stored on the
occurrence. Rules are idempotent: running one twice has the effect of once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from handlers.models import Appointment, AppointmentStatus

Rule = Callable[[dict[str, Any], datetime], dict[str, Any]]


def mark_no_shows(context: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Booked appointments that ended ``grace_minutes`` ago (default 30) become no-shows."""
    grace = timedelta(minutes=int(context.get("grace_minutes", 30)))
    ended = Appointment.objects.filter(status=AppointmentStatus.BOOKED, end_time__lt=now - grace)
    count = ended.update(status=AppointmentStatus.NO_SHOW, updated_at=now)
    return {"marked_no_show": count}


def cancel_unconfirmed(context: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Cancel bookings still unconfirmed ``hours_before_start`` (default 24) before they start."""
    from handlers.services.appointments import cancel_appointment

    deadline = now + timedelta(hours=int(context.get("hours_before_start", 24)))
    unconfirmed = Appointment.objects.filter(
        status=AppointmentStatus.BOOKED, confirmed_at__isnull=True, start_time__lte=deadline
    )
    cancelled = [a.pk for a in unconfirmed if cancel_appointment(a)]
    return {"cancelled": len(cancelled), "appointment_ids": cancelled}


RULES: dict[str, Rule] = {
    "mark_no_shows": mark_no_shows,
    "cancel_unconfirmed": cancel_unconfirmed,
}
RULE_CHOICES = [(key, key.replace("_", " ")) for key in RULES]
