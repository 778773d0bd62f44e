"""The admin as a user drives it (Django's test client): lists, actions, editors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from handlers.models import BusinessRule
from handlers.services.appointments import book_appointment
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus, ScheduledEvent
from tests.conftest import booking_kwargs

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(frozen_now, alice):
    return book_appointment(**booking_kwargs(participants=[alice])).appointment


def changelist(name: str) -> str:
    return reverse(f"admin:{name}_changelist")


def test_the_appointment_list_shows_user_local_start_and_event_counts(admin_client, booked) -> None:
    page = admin_client.get(changelist("handlers_appointment")).content.decode()
    assert "2026-12-03 15:00:00 GMT (UTC)" in page  # user zone: Europe/London
    assert 'title="2026-12-03 15:00:00 UTC · Europe/London"' in page
    assert "in 2 days" in page  # from 2026-12-01 12:00 UTC
    assert "4 events" in page
    assert "color: green" in page


def test_the_appointment_list_costs_the_same_queries_for_many_rows(
    admin_client, frozen_now, django_assert_max_num_queries
) -> None:
    for i in range(30):
        book_appointment(**booking_kwargs(title=f"a{i}"))
    with django_assert_max_num_queries(12):
        admin_client.get(changelist("handlers_appointment"))


def test_the_reschedule_action_replaces_events_without_adding(admin_client, booked) -> None:
    response = admin_client.post(
        changelist("handlers_appointment"),
        {"action": "reschedule_events", "_selected_action": [booked.pk]},
        follow=True,
    )
    assert "Rescheduled events for 1 appointments" in response.content.decode()
    scheduled = ScheduledEvent.objects.filter(
        entity_id=booked.entity_id, status=EventStatus.SCHEDULED
    )
    assert scheduled.count() == 4


def test_the_cancel_action_cancels_events_and_the_list_shows_zero(admin_client, booked) -> None:
    admin_client.post(
        changelist("handlers_appointment"),
        {"action": "cancel_events", "_selected_action": [booked.pk]},
    )
    page = admin_client.get(changelist("handlers_appointment")).content.decode()
    assert "0 events" in page
    assert "color: red" in page


def test_changing_the_start_in_the_admin_moves_the_events(admin_client, booked) -> None:
    url = reverse("admin:handlers_appointment_change", args=[booked.pk])
    start = booked.start_time + timedelta(days=1)
    participant = booked.participant_set.get()
    form = {
        "title": booked.title,
        "resource": booked.resource,
        "start_time_0": start.strftime("%Y-%m-%d"),
        "start_time_1": start.strftime("%H:%M:%S"),
        "end_time_0": (start + timedelta(hours=1)).strftime("%Y-%m-%d"),
        "end_time_1": (start + timedelta(hours=1)).strftime("%H:%M:%S"),
        "resource_timezone": booked.resource_timezone,
        "user_timezone": booked.user_timezone,
        "status": booked.status,
        "participant_set-TOTAL_FORMS": "1",
        "participant_set-INITIAL_FORMS": "1",
        "participant_set-0-id": participant.pk,
        "participant_set-0-appointment": booked.pk,
        "participant_set-0-user": participant.user_id,
        "participant_set-0-timezone": "",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    # Payloads are encrypted at rest: picked in Python, not by a query.
    [reminder] = [
        e
        for e in ScheduledEvent.objects.filter(
            entity_id=booked.entity_id, status=EventStatus.SCHEDULED
        )
        if e.payload.get("reminder_type") == "24_hour_reminder"
    ]
    assert reminder.scheduled_time == start - timedelta(hours=24)


def test_retry_sends_a_failed_occurrence_again(admin_client, make_event, frozen_now) -> None:
    event = make_event()
    failed = Occurrence.objects.create(
        event=event,
        scheduled_for=event.scheduled_time,
        task_id="t-failed",
        status=OccurrenceStatus.FAILED,
        claimed_at=timezone.now(),
        error="boom",
    )
    ScheduledEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, next_run_at=None)
    response = admin_client.post(
        changelist("scheduling_occurrence"),
        {"action": "retry", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert "Sent 1 occurrences again" in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.error) == (OccurrenceStatus.SENT, None)
    event.refresh_from_db()
    assert event.status == EventStatus.SCHEDULED


def test_saving_a_business_rule_in_the_admin_schedules_it(admin_client, frozen_now) -> None:
    admin_client.post(
        reverse("admin:handlers_businessrule_add"),
        {
            "rule_key": "mark_no_shows",
            "execution_time": "09:00",
            "timezone": "Europe/Paris",
            "context": "{}",
            "enabled": "on",
        },
    )
    rule = BusinessRule.objects.get()
    assert rule.event.periodic_task.crontab.hour == "9"
    assert str(rule.event.periodic_task.crontab.timezone) == "Europe/Paris"


def test_the_periodic_task_editor_uses_raw_ids_and_opens(admin_client, make_event, frozen_now):
    event = make_event()
    page = admin_client.get(
        reverse("admin:django_celery_beat_periodictask_change", args=[event.periodic_task_id])
    ).content.decode()
    assert 'class="vForeignKeyRawIdAdminField"' in page
    assert "<option" not in page.split('name="clocked"')[1][:200]


def test_editing_the_clocked_time_in_the_admin_moves_the_event(
    admin_client, make_event, frozen_now
):
    event = make_event()
    clock = event.periodic_task.clocked
    response = admin_client.post(
        reverse("admin:django_celery_beat_clockedschedule_change", args=[clock.pk]),
        {"clocked_time_0": "2026-12-05", "clocked_time_1": "08:30:00"},
    )
    assert response.status_code == 302
    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2026-12-05T08:30:00+00:00"


def test_the_scheduled_event_list_filters_by_entity(admin_client, make_event, frozen_now) -> None:
    make_event(entity_id="appt-9")
    make_event(entity_id="appt-10")
    page = admin_client.get(changelist("scheduling_scheduledevent") + "?entity_id=appt-9")
    body = page.content.decode()
    assert "appt-9" in body
    assert "appt-10" not in body


def test_the_schedule_editors_link_to_their_tasks_instead_of_listing_them(
    admin_client, make_event, frozen_now
) -> None:
    event = make_event(recurrence={"frequency": "DAILY"})
    make_event(entity_id="appt-2", recurrence={"frequency": "DAILY"})  # same crontab
    page = admin_client.get(
        reverse(
            "admin:django_celery_beat_crontabschedule_change", args=[event.periodic_task.crontab_id]
        )
    ).content.decode()
    assert "2 tasks" in page
    one_off = make_event(entity_id="appt-3")
    page = admin_client.get(
        reverse(
            "admin:django_celery_beat_clockedschedule_change",
            args=[one_off.periodic_task.clocked_id],
        )
    ).content.decode()
    assert "1 tasks" in page
