"""Reminder and follow-up handlers: outbox rows, e-mails, stale events, idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from handlers.models import Appointment, Notification
from handlers.services.appointments import (
    book_appointment,
    cancel_appointment,
    complete_appointment,
)
from scheduling.models import Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.services.occurrences import claim_due_occurrences
from scheduling.tasks import process_event
from tests.conftest import booking_kwargs, recorded

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(frozen_now, alice, bob):
    return book_appointment(**booking_kwargs(participants=[alice, (bob, "Asia/Tokyo")]))


def fire(booking, freezer, kind: str) -> dict:
    """Move the clock to the event of ``kind`` and run it as beat and the worker would."""
    event = next(
        e
        for e in ScheduledEvent.objects.filter(entity_id=booking.appointment.entity_id)
        if kind in (e.payload.get("reminder_type"), e.payload.get("follow_up_type"))
    )
    freezer.move_to(event.next_run_at or event.scheduled_time)
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    kwargs = {"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
    return process_event.apply(kwargs=kwargs).get() | {"kwargs": kwargs}


def test_a_reminder_notifies_each_participant_in_their_own_zone(booking, freezer) -> None:
    outcome = fire(booking, freezer, "24_hour_reminder")

    assert outcome["status"] == "succeeded"
    assert recorded(outcome).result == {"notifications": 2, "emails_sent": 2}
    by_recipient = {m.to[0]: m for m in mail.outbox}
    assert by_recipient["alice@example.com"].subject == "Reminder: Check-up starts in 24 hours"
    # Alice has no zone of her own: the appointment's user zone (London).
    assert "Thu 03 Dec 2026 15:00 GMT (Europe/London)" in by_recipient["alice@example.com"].body
    assert "Fri 04 Dec 2026 00:00 JST (Asia/Tokyo)" in by_recipient["bob@example.com"].body
    assert Notification.objects.filter(sent_at__isnull=False).count() == 2


def test_running_a_reminder_twice_sends_once(booking, freezer) -> None:
    outcome = fire(booking, freezer, "24_hour_reminder")
    occurrence = Occurrence.objects.get(pk=outcome["kwargs"]["occurrence_id"])
    # A redelivery after the worker died mid-task: the occurrence is still running.
    Occurrence.objects.filter(pk=occurrence.pk).update(status=OccurrenceStatus.RUNNING)
    again = process_event.apply(kwargs=outcome["kwargs"]).get()

    assert recorded(again).result == {"notifications": 0, "emails_sent": 0}
    assert len(mail.outbox) == 2
    assert Notification.objects.count() == 2


def test_a_reminder_for_a_cancelled_appointment_is_skipped(booking, freezer) -> None:
    # Payloads are encrypted at rest: picked in Python, not by a query.
    [event] = [
        e
        for e in ScheduledEvent.objects.all()
        if e.payload.get("reminder_type") == "2_hour_reminder"
    ]
    freezer.move_to(event.scheduled_time)
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    cancel_appointment(booking.appointment)  # after beat sent it
    outcome = process_event.apply(
        kwargs={"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
    ).get()
    assert outcome["status"] == "skipped"
    assert mail.outbox == []


def test_a_reminder_for_a_moved_appointment_is_skipped_as_stale(booking, freezer) -> None:
    # The start changed by a path that did not replace the events (a bulk
    # update, a data fix): the reminder still carries the old start.
    Appointment.objects.filter(pk=booking.appointment.pk).update(
        start_time=booking.appointment.start_time + timedelta(minutes=30)
    )
    outcome = fire(booking, freezer, "24_hour_reminder")
    assert outcome["status"] == "skipped"
    assert recorded(outcome).error == "stale event: appointment moved"
    assert mail.outbox == []


def test_the_follow_up_goes_out_only_if_the_appointment_took_place(booking, freezer) -> None:
    outcome = fire(booking, freezer, "satisfaction_survey")
    assert outcome["status"] == "skipped"
    assert "did not take place" in recorded(outcome).error
    assert mail.outbox == []


def test_the_follow_up_sends_a_survey_after_a_completed_appointment(booking, freezer) -> None:
    complete_appointment(booking.appointment)
    outcome = fire(booking, freezer, "satisfaction_survey")
    assert recorded(outcome).result == {"notifications": 2, "emails_sent": 2}
    assert {m.subject for m in mail.outbox} == {"How was Check-up?"}
    assert set(Notification.objects.values_list("kind", flat=True)) == {"satisfaction_survey"}


def test_an_email_repeated_after_a_crash_keeps_its_message_id(booking, freezer) -> None:
    outcome = fire(booking, freezer, "24_hour_reminder")
    first_ids = sorted(m.extra_headers["Message-ID"] for m in mail.outbox)
    # The worker died after sending, before recording it: the redelivered
    # task sends again, under the same Message-ID.
    Notification.objects.update(sent_at=None)
    Occurrence.objects.update(status=OccurrenceStatus.RUNNING)
    process_event.apply(kwargs=outcome["kwargs"])
    assert len(mail.outbox) == 4
    assert sorted(m.extra_headers["Message-ID"] for m in mail.outbox[2:]) == first_ids
    assert first_ids[0].startswith("<notification-")
