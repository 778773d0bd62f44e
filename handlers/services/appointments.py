"""Book, move, confirm and cancel appointments, keeping their events in step.

The reminder plan (the original integration guide's): reminders 24 hours,
2 hours and 15 minutes before the start, and a satisfaction-survey follow-up
1 hour after the end. The offsets are elapsed time: "24 hours before" is 24
hours earlier in UTC, whatever the clocks do in between.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

import scheduling
from handlers.models import Appointment, AppointmentStatus, Participant
from scheduling import EventValidationError, scheduled_events_for_entity
from scheduling.models import ScheduledEvent
from scheduling.validators import check_instant

REMINDERS: tuple[tuple[timedelta, str], ...] = (
    (timedelta(hours=24), "24_hour_reminder"),
    (timedelta(hours=2), "2_hour_reminder"),
    (timedelta(minutes=15), "15_minute_reminder"),
)
FOLLOW_UP_DELAY = timedelta(hours=1)
FOLLOW_UP_TYPE = "satisfaction_survey"


@dataclass
class EventPlan:
    """What scheduling an appointment's events did."""

    scheduled: list[ScheduledEvent] = field(default_factory=list)
    # Reminder types whose time had already passed: not scheduled.
    skipped: list[str] = field(default_factory=list)


@dataclass
class Booking:
    appointment: Appointment
    plan: EventPlan


@transaction.atomic
def book_appointment(
    *,
    title: str,
    resource: str,
    start_time: datetime,
    end_time: datetime,
    resource_timezone: str,
    user_timezone: str,
    participants: Iterable[AbstractBaseUser | tuple[AbstractBaseUser, str]] = (),
) -> Booking:
    """Create an appointment and schedule its reminders and follow-up, in one transaction.

    ``participants`` are users, or (user, IANA zone) pairs for users who see
    times in a zone of their own. Raise EventValidationError on bad input.
    """
    _check_times(start_time, end_time)
    appointment = Appointment(
        title=title,
        resource=resource,
        start_time=start_time.astimezone(UTC),
        end_time=end_time.astimezone(UTC),
        resource_timezone=resource_timezone,
        user_timezone=user_timezone,
    )
    _full_clean(appointment)
    appointment.save()
    for user, tz in _as_pairs(participants):
        # AUTH_USER_MODEL may be any user model; the stubs know only auth.User.
        participant = Participant(appointment=appointment, user=cast(Any, user), timezone=tz)
        _full_clean(participant, exclude=["appointment"])
        participant.save()
    return Booking(appointment, schedule_appointment_events(appointment))


def _as_pairs(
    participants: Iterable[AbstractBaseUser | tuple[AbstractBaseUser, str]],
) -> list[tuple[AbstractBaseUser, str]]:
    return [p if isinstance(p, tuple) else (p, "") for p in participants]


def _check_times(start_time: datetime, end_time: datetime) -> None:
    errors: dict[str, str] = {}
    for name, value in (("start_time", start_time), ("end_time", end_time)):
        check_instant(errors, name, value)
    if not errors and end_time <= start_time:
        errors["end_time"] = "must be after start_time"
    if errors:
        raise EventValidationError(errors)


def _full_clean(instance: Any, exclude: Sequence[str] = ()) -> None:
    from django.core.exceptions import ValidationError

    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        raise EventValidationError(
            {k: " ".join(str(m) for m in v) for k, v in exc.message_dict.items()}
        ) from None


@transaction.atomic
def schedule_appointment_events(appointment: Appointment) -> EventPlan:
    """Schedule the reminder plan; a second call changes nothing.

    Reminders whose time has passed are not scheduled and are reported in
    ``skipped``. A cancelled appointment gets no events.
    """
    plan = EventPlan()
    if appointment.status != AppointmentStatus.BOOKED:
        return plan
    now = timezone.now()
    # In UTC: subtracting from a zoned datetime would subtract wall-clock
    # time, and "24 hours before" is 24 real hours.
    start = appointment.start_time.astimezone(UTC)
    requests = []
    for offset, reminder_type in REMINDERS:
        when = start - offset
        if when <= now:
            plan.skipped.append(reminder_type)
            continue
        requests.append(_reminder(appointment, when, reminder_type))
    requests.append(_follow_up(appointment))
    plan.scheduled = scheduling.schedule_events(requests)
    return plan


def _common(appointment: Appointment) -> dict[str, Any]:
    return {
        "entity_id": appointment.entity_id,
        "resource_timezone": appointment.resource_timezone,
        "user_timezone": appointment.user_timezone,
    }


def _reminder(appointment: Appointment, when: datetime, reminder_type: str) -> dict[str, Any]:
    participant_ids = sorted(appointment.participants.values_list("pk", flat=True))
    return {
        **_common(appointment),
        "event_type": "APPOINTMENT_REMINDER",
        "scheduled_time": when,
        "payload": {
            "appointment_id": appointment.entity_id,
            "reminder_type": reminder_type,
            "participant_ids": [str(pk) for pk in participant_ids],
            "title": appointment.title,
            "start_time": appointment.start_time.isoformat(),
        },
    }


def _follow_up(appointment: Appointment) -> dict[str, Any]:
    return {
        **_common(appointment),
        "event_type": "APPOINTMENT_FOLLOW_UP",
        "scheduled_time": appointment.end_time.astimezone(UTC) + FOLLOW_UP_DELAY,
        "payload": {"appointment_id": appointment.entity_id, "follow_up_type": FOLLOW_UP_TYPE},
    }


@transaction.atomic
def cancel_appointment_events(appointment: Appointment) -> int:
    """Cancel every scheduled event of the appointment; return how many."""
    events = scheduled_events_for_entity(appointment.entity_id)
    return sum(bool(scheduling.cancel_event(e.id)) for e in events)


@transaction.atomic
def reschedule_appointment_events(appointment: Appointment) -> EventPlan:
    """Replace the appointment's events by a fresh plan (never adds to them)."""
    cancel_appointment_events(appointment)
    return schedule_appointment_events(appointment)


@transaction.atomic
def move_appointment(
    appointment: Appointment, *, start_time: datetime, end_time: datetime
) -> EventPlan:
    """Change the start and end; the events move with them."""
    _check_times(start_time, end_time)
    appointment.start_time = start_time.astimezone(UTC)
    appointment.end_time = end_time.astimezone(UTC)
    appointment.save(update_fields=["start_time", "end_time", "updated_at"])
    return reschedule_appointment_events(appointment)


@transaction.atomic
def cancel_appointment(appointment: Appointment) -> bool:
    """Cancel a booked appointment and its events; False if it was not booked."""
    changed = Appointment.objects.filter(pk=appointment.pk, status=AppointmentStatus.BOOKED).update(
        status=AppointmentStatus.CANCELLED, updated_at=timezone.now()
    )
    if changed:
        appointment.status = AppointmentStatus.CANCELLED
        cancel_appointment_events(appointment)
    return bool(changed)


def confirm_appointment(appointment: Appointment) -> None:
    now = timezone.now()
    Appointment.objects.filter(pk=appointment.pk, confirmed_at__isnull=True).update(
        confirmed_at=now, updated_at=now
    )


def complete_appointment(appointment: Appointment) -> bool:
    """Mark a booked appointment as having taken place; False if it was not booked."""
    return bool(
        Appointment.objects.filter(pk=appointment.pk, status=AppointmentStatus.BOOKED).update(
            status=AppointmentStatus.COMPLETED, updated_at=timezone.now()
        )
    )
