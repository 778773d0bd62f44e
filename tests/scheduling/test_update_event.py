"""Editing a scheduled event in place (update_event) and firing one now (run_event_now)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from scheduling import EventValidationError, cancel_event, run_event_now, update_event
from scheduling.models import (
    AuditAction,
    AuditEntry,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
)
from scheduling.services.occurrences import claim_due_occurrences

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def snapshot(event: ScheduledEvent) -> tuple[object, ...]:
    event = ScheduledEvent.objects.select_related("periodic_task__clocked").get(pk=event.pk)
    task = event.periodic_task
    return (
        event.scheduled_time,
        event.next_run_at,
        event.payload,
        event.recurrence,
        task.clocked_id if task else None,
        task.crontab_id if task else None,
        AuditEntry.objects.count(),
    )


class TestMovingAOneOff:
    def test_the_beat_row_and_next_run_move_with_the_time(self, make_event, frozen_now) -> None:
        event = make_event()
        moved = update_event(
            event.id, scheduled_time=datetime(2026, 12, 3, 10, 30, tzinfo=NEW_YORK)
        )
        moved.refresh_from_db()
        assert moved.id == event.id
        assert moved.next_run_at.isoformat() == "2026-12-03T15:30:00+00:00"
        assert moved.periodic_task.clocked.clocked_time == moved.next_run_at
        assert moved.scheduled_time == moved.next_run_at

    def test_beat_claims_it_at_the_new_time_and_not_at_the_old(
        self, make_event, frozen_now
    ) -> None:
        event = make_event()  # 2026-12-02 14:00 UTC
        update_event(event.id, scheduled_time=datetime(2026, 12, 2, 16, 0, tzinfo=NEW_YORK))
        old_time = datetime(2026, 12, 2, 14, 0, 1, tzinfo=ZoneInfo("UTC"))
        assert claim_due_occurrences(now=old_time, limit=10) == []
        [claim] = claim_due_occurrences(now=old_time + timedelta(hours=7), limit=10)
        occurrence = Occurrence.objects.get(pk=claim.occurrence_id)
        assert occurrence.scheduled_for.isoformat() == "2026-12-02T21:00:00+00:00"

    def test_the_old_clock_is_removed(self, make_event, frozen_now) -> None:
        event = make_event()
        old_clock = event.periodic_task.clocked_id
        update_event(event.id, scheduled_time=datetime(2026, 12, 5, 9, 0, tzinfo=NEW_YORK))
        assert not ClockedSchedule.objects.filter(pk=old_clock).exists()
        assert PeriodicTask.objects.count() == 1

    def test_it_is_audited_with_the_fields_changed(self, make_event, frozen_now) -> None:
        event = make_event()
        update_event(event.id, payload={"appointment_id": "appt-1"}, via="admin")
        entry = AuditEntry.objects.filter(action=AuditAction.RESCHEDULE).get()
        assert entry.target == str(event.id)
        assert entry.details["fields"] == ["payload"]
        assert entry.details["via"] == "admin"
        assert "appt-1" not in str(entry.details)  # never payload values

    def test_nothing_changed_writes_nothing(self, make_event, frozen_now) -> None:
        event = make_event()
        before = snapshot(event)
        update_event(event.id, scheduled_time=event.scheduled_time, payload=event.payload)
        assert snapshot(event) == before

    def test_a_fired_one_off_cannot_be_moved(self, make_event, frozen_now) -> None:
        event = make_event()
        claim_due_occurrences(now=event.scheduled_time, limit=10)
        before = snapshot(event)
        with pytest.raises(EventValidationError, match="already fired"):
            update_event(event.id, scheduled_time=event.scheduled_time + timedelta(hours=1))
        assert snapshot(event) == before


class TestRecurrence:
    def test_a_one_off_becomes_recurring_on_a_crontab_in_its_zone(
        self, make_event, frozen_now
    ) -> None:
        event = make_event()
        moved = update_event(event.id, recurrence={"frequency": "DAILY"})
        moved.refresh_from_db()
        task = moved.periodic_task
        assert task.clocked is None
        assert task.one_off is False
        assert (task.crontab.hour, task.crontab.minute) == ("9", "0")
        assert str(task.crontab.timezone) == "America/New_York"
        assert moved.next_run_at.isoformat() == "2026-12-02T14:00:00+00:00"

    def test_a_recurring_event_keeps_its_count_of_firings(self, make_event, frozen_now) -> None:
        event = make_event(recurrence={"frequency": "DAILY", "count": 3})
        claim_due_occurrences(now=event.next_run_at, limit=10)
        moved = update_event(event.id, payload={"appointment_id": "appt-9"})
        moved.refresh_from_db()
        assert moved.fired_count == 1
        # The slot already claimed is not offered again.
        assert moved.next_run_at.isoformat() == "2026-12-03T14:00:00+00:00"

    def test_a_recurring_event_moved_across_dst_keeps_its_wall_clock(
        self, make_event, frozen_now
    ) -> None:
        # America/New_York springs forward on 2027-03-14 at 02:00 (EST → EDT).
        event = make_event(recurrence={"frequency": "DAILY"})
        moved = update_event(event.id, scheduled_time=datetime(2027, 3, 13, 9, 0, tzinfo=NEW_YORK))
        moved.refresh_from_db()
        assert moved.next_run_at.isoformat() == "2027-03-13T14:00:00+00:00"
        [_claim] = claim_due_occurrences(now=moved.next_run_at, limit=10)
        moved.refresh_from_db()
        assert moved.next_run_at.isoformat() == "2027-03-14T13:00:00+00:00"

    def test_recurring_back_to_one_off(self, make_event, frozen_now) -> None:
        event = make_event(recurrence={"frequency": "WEEKLY"})
        moved = update_event(event.id, recurrence=None)
        moved.refresh_from_db()
        assert moved.periodic_task.crontab is None
        assert moved.periodic_task.clocked.clocked_time == moved.scheduled_time


class TestRefusals:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"scheduled_time": datetime(2026, 12, 3, 9, 0)}, "scheduled_time"),  # naive
            ({"scheduled_time": "tomorrow"}, "scheduled_time"),
            ({"payload": ["not", "an", "object"]}, "payload"),
            ({"recurrence": {"frequency": "DAILY", "interval": 0}}, "recurrence.interval"),
            ({"recurrence": "DAILY"}, "recurrence"),
        ],
    )
    def test_bad_input_names_the_field_and_changes_nothing(
        self, make_event, frozen_now, change, field
    ) -> None:
        event = make_event()
        before = snapshot(event)
        with pytest.raises(EventValidationError) as caught:
            update_event(event.id, **change)
        assert field in caught.value.message_dict
        assert snapshot(event) == before

    def test_a_time_another_event_has_is_refused(self, make_event, frozen_now) -> None:
        first = make_event()
        second = make_event(scheduled_time=first.scheduled_time + timedelta(hours=1))
        before = snapshot(second)
        with pytest.raises(EventValidationError, match="already at this time"):
            update_event(second.id, scheduled_time=first.scheduled_time)
        assert snapshot(second) == before

    def test_a_cancelled_event_is_not_found(self, make_event, frozen_now) -> None:
        event = make_event()
        cancel_event(event.id)
        with pytest.raises(ScheduledEvent.DoesNotExist):
            update_event(event.id, scheduled_time=event.scheduled_time + timedelta(hours=1))


class TestRunNow:
    def test_it_claims_an_extra_occurrence_now_and_leaves_the_schedule(
        self, make_event, frozen_now, settings
    ) -> None:
        settings.CELERY_TASK_ALWAYS_EAGER = False
        event = make_event()
        occurrence_id = run_event_now(event.id)
        occurrence = Occurrence.objects.get(pk=occurrence_id)
        assert occurrence.scheduled_for == frozen_now
        assert occurrence.status == OccurrenceStatus.SENT
        event.refresh_from_db()
        assert event.next_run_at.isoformat() == "2026-12-02T14:00:00+00:00"
        assert event.status == EventStatus.SCHEDULED
        run = AuditEntry.objects.get(action=AuditAction.RUN)
        assert run.details == {"occurrence_id": occurrence_id}

    def test_a_cancelled_event_does_not_run(self, make_event, frozen_now) -> None:
        event = make_event()
        cancel_event(event.id)
        with pytest.raises(ScheduledEvent.DoesNotExist):
            run_event_now(event.id)
        assert not Occurrence.objects.exists()
