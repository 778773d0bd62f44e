"""Booking, moving and cancelling appointments keeps their four events in step."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handlers.models import Appointment
from handlers.services.appointments import (
    book_appointment,
    cancel_appointment,
    move_appointment,
    reschedule_appointment_events,
    schedule_appointment_events,
)
from scheduling import EventValidationError, get_upcoming_events
from scheduling.models import EventStatus, ScheduledEvent
from tests.conftest import NOW, booking_kwargs

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def scheduled(appointment: Appointment) -> list[ScheduledEvent]:
    return list(
        ScheduledEvent.objects.filter(
            entity_id=appointment.entity_id, status=EventStatus.SCHEDULED
        ).order_by("scheduled_time")
    )


def test_booking_schedules_three_reminders_and_a_follow_up(frozen_now, alice, bob) -> None:
    booking = book_appointment(**booking_kwargs(participants=[alice, (bob, "Asia/Tokyo")]))
    events = scheduled(booking.appointment)

    assert booking.plan.skipped == []
    assert [(e.event_type, e.payload.get("reminder_type")) for e in events] == [
        ("APPOINTMENT_REMINDER", "24_hour_reminder"),
        ("APPOINTMENT_REMINDER", "2_hour_reminder"),
        ("APPOINTMENT_REMINDER", "15_minute_reminder"),
        ("APPOINTMENT_FOLLOW_UP", None),
    ]
    assert [e.scheduled_time.isoformat() for e in events] == [
        "2026-12-02T15:00:00+00:00",
        "2026-12-03T13:00:00+00:00",
        "2026-12-03T14:45:00+00:00",
        "2026-12-03T17:00:00+00:00",
    ]
    reminder = events[0]
    assert reminder.timezone_context == {
        "resource_timezone": "America/New_York",
        "user_timezone": "Europe/London",
        "execution_timezone": "America/New_York",
    }
    assert reminder.payload == {
        "appointment_id": booking.appointment.entity_id,
        "reminder_type": "24_hour_reminder",
        "participant_ids": sorted([str(alice.pk), str(bob.pk)]),
        "title": "Check-up",
        "start_time": "2026-12-03T15:00:00+00:00",
    }
    assert events[3].payload == {
        "appointment_id": booking.appointment.entity_id,
        "follow_up_type": "satisfaction_survey",
    }


def test_reminders_already_past_are_skipped_and_reported(frozen_now, alice) -> None:
    soon = NOW + timedelta(hours=1)
    booking = book_appointment(
        **booking_kwargs(start_time=soon, end_time=soon + timedelta(hours=1), participants=[alice])
    )
    assert booking.plan.skipped == ["24_hour_reminder", "2_hour_reminder"]
    assert [e.payload.get("reminder_type") for e in scheduled(booking.appointment)] == [
        "15_minute_reminder",
        None,
    ]


def test_reminders_are_elapsed_time_across_a_dst_change(alice, freezer) -> None:
    # New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC). A 09:00 EST
    # appointment on 1 November: "24 hours before" is 24 real hours earlier,
    # 10:00 EDT on 31 October, not 09:00 wall-clock time.
    freezer.move_to("2026-10-25T12:00:00Z")
    start = datetime(2026, 11, 1, 9, 0, tzinfo=NY)
    booking = book_appointment(
        **booking_kwargs(
            start_time=start, end_time=start + timedelta(hours=1), participants=[alice]
        )
    )
    [day_before] = [
        e
        for e in scheduled(booking.appointment)
        if e.payload.get("reminder_type") == "24_hour_reminder"
    ]
    assert day_before.scheduled_time.astimezone(NY).isoformat() == "2026-10-31T10:00:00-04:00"
    assert start - day_before.scheduled_time == timedelta(hours=24)


def test_scheduling_events_twice_changes_nothing(frozen_now, alice) -> None:
    booking = book_appointment(**booking_kwargs(participants=[alice]))
    before = [e.id for e in scheduled(booking.appointment)]
    again = schedule_appointment_events(booking.appointment)
    assert sorted(e.id for e in again.scheduled) == sorted(before)
    assert ScheduledEvent.objects.count() == 4


def test_moving_an_appointment_replaces_its_events(frozen_now, alice) -> None:
    booking = book_appointment(**booking_kwargs(participants=[alice]))
    start = datetime(2026, 12, 4, 15, 0, tzinfo=NY)
    move_appointment(booking.appointment, start_time=start, end_time=start + timedelta(hours=1))

    events = scheduled(booking.appointment)
    assert len(events) == 4
    assert events[0].scheduled_time.isoformat() == "2026-12-03T20:00:00+00:00"
    assert ScheduledEvent.objects.filter(status=EventStatus.CANCELLED).count() == 4
    upcoming = get_upcoming_events(entity_id=booking.appointment.entity_id)
    assert len(upcoming) == 4


def test_rescheduling_events_without_a_change_keeps_four(frozen_now, alice) -> None:
    booking = book_appointment(**booking_kwargs(participants=[alice]))
    reschedule_appointment_events(booking.appointment)
    reschedule_appointment_events(booking.appointment)
    assert len(scheduled(booking.appointment)) == 4


def test_cancelling_an_appointment_cancels_its_events(frozen_now, alice) -> None:
    booking = book_appointment(**booking_kwargs(participants=[alice]))
    assert cancel_appointment(booking.appointment) is True
    assert scheduled(booking.appointment) == []
    assert cancel_appointment(booking.appointment) is False
    assert schedule_appointment_events(booking.appointment).scheduled == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"start_time": datetime(2026, 12, 3, 10, 0)}, "start_time"),
        ({"end_time": datetime(2026, 12, 3, 9, 0, tzinfo=NY)}, "end_time"),
        ({"resource_timezone": "Mars/Base"}, "resource_timezone"),
        ({"user_timezone": "Nowhere"}, "user_timezone"),
        ({"participants": [("alice", "Bad/Zone")]}, "timezone"),
    ],
)
def test_bad_bookings_raise_and_write_nothing(frozen_now, alice, overrides, field) -> None:
    if "participants" in overrides:
        overrides = {"participants": [(alice, "Bad/Zone")]}
    with pytest.raises(EventValidationError) as caught:
        book_appointment(**booking_kwargs(**overrides))
    assert field in caught.value.message_dict
    assert Appointment.objects.count() == 0
    assert ScheduledEvent.objects.count() == 0


def test_local_start_times(frozen_now, alice) -> None:
    appointment = book_appointment(**booking_kwargs(participants=[alice])).appointment
    assert appointment.get_local_start_time().isoformat() == "2026-12-03T15:00:00+00:00"
    assert appointment.get_local_start_time("Asia/Tokyo").isoformat() == "2026-12-04T00:00:00+09:00"
    assert appointment.get_resource_start_time().isoformat() == "2026-12-03T10:00:00-05:00"
