"""Edits of beat rows made in the admin's periodic-task editor move the event."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import ClockedSchedule, CrontabSchedule

from scheduling import get_upcoming_events
from scheduling.models import EventStatus, ScheduledEvent
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def test_moving_the_clocked_time_moves_next_run_and_upcoming(make_event, frozen_now) -> None:
    event = make_event()
    clocked = event.periodic_task.clocked
    clocked.clocked_time = datetime(2026, 12, 3, 10, 0, tzinfo=NY)
    clocked.save()

    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2026-12-03T15:00:00+00:00"
    [item] = get_upcoming_events(timezone="America/New_York")
    assert item["scheduled_time"] == "2026-12-03T10:00:00-05:00"


def test_disabling_the_periodic_task_stops_the_event_and_enabling_restores_it(
    make_event, frozen_now
) -> None:
    event = make_event()
    task = event.periodic_task
    task.enabled = False
    task.save()
    event.refresh_from_db()
    assert event.next_run_at is None
    assert get_upcoming_events() == []

    task.enabled = True
    task.save()
    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2026-12-02T14:00:00+00:00"


def test_editing_the_crontab_changes_when_a_recurring_event_fires(make_event, frozen_now) -> None:
    event = make_event(recurrence={"frequency": "DAILY"})
    crontab = event.periodic_task.crontab
    crontab.hour = "7"
    crontab.save()
    event.refresh_from_db()
    # 07:00 on 2 December is before the rule's start (09:00 that day).
    assert event.next_run_at.isoformat() == "2026-12-03T12:00:00+00:00"


def test_deleting_the_periodic_task_cancels_the_event(make_event, frozen_now) -> None:
    event = make_event()
    event.periodic_task.delete()
    event = ScheduledEvent.objects.get(pk=event.pk)
    assert event.status == EventStatus.CANCELLED
    assert event.next_run_at is None


def test_scheduling_itself_sends_no_beat_change_signal(frozen_now) -> None:
    from django_celery_beat.models import PeriodicTasks

    from scheduling import schedule_event

    schedule_event(**event_kwargs())
    # The stock scheduler would reload every enabled row on such a bump.
    assert PeriodicTasks.last_change() is None


def _event_queries(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "scheduling_scheduledevent" in q["sql"]]


def test_a_crontab_saved_as_it_stands_reads_no_event(make_event, frozen_now) -> None:
    # django-celery-beat saves its default entries' crontab (celery.backend_cleanup,
    # 04:00) at every beat start: the events on that crontab were read each time.
    event = make_event(recurrence={"frequency": "DAILY"})
    crontab = CrontabSchedule.objects.get(pk=event.periodic_task.crontab_id)
    with CaptureQueriesContext(connection) as captured:
        crontab.save()
        ClockedSchedule.objects.create(clocked_time=frozen_now).save()
    assert _event_queries(captured) == []

    crontab.minute = "30"
    with CaptureQueriesContext(connection) as captured:
        crontab.save()
    assert _event_queries(captured) != []
    event.refresh_from_db()
    assert event.next_run_at.isoformat() == "2026-12-02T14:30:00+00:00"


def test_a_crontab_edit_moves_its_events_whatever_their_payloads(
    make_event, frozen_now, settings
) -> None:
    # The calendar never reads a payload: one that no key decrypts any more
    # must not stop an edit that every event on the crontab follows.
    settings.SCHEDULING_PAYLOAD_KEYS = [Fernet.generate_key().decode()]
    event = make_event(recurrence={"frequency": "DAILY"})
    settings.SCHEDULING_PAYLOAD_KEYS = [Fernet.generate_key().decode()]
    crontab = CrontabSchedule.objects.get(pk=event.periodic_task.crontab_id)
    crontab.hour = "7"
    crontab.save()
    assert (
        ScheduledEvent.objects.values_list("next_run_at", flat=True).get(pk=event.pk).isoformat()
        == "2026-12-03T12:00:00+00:00"
    )
