"""Business rules and monthly reports: their events follow the rows; their effects are real."""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from handlers.models import Appointment, AppointmentStatus, BusinessRule, Report, ReportSchedule
from handlers.services.appointments import book_appointment, confirm_appointment
from handlers.services.recurring import (
    ensure_data_cleanup_event,
    save_business_rule,
    save_report_schedule,
)
from scheduling.models import EventStatus, ScheduledEvent
from scheduling.services.occurrences import claim_due_occurrences
from scheduling.tasks import process_event
from tests.conftest import NOW, booking_kwargs, recorded

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


def run(event: ScheduledEvent, freezer) -> dict:
    freezer.move_to(event.next_run_at)
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    return process_event.apply(
        kwargs={"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
    ).get()


def rule(**fields) -> BusinessRule:
    defaults = {
        "rule_key": "mark_no_shows",
        "execution_time": time(9, 0),
        "timezone": "Europe/Paris",
    }
    return save_business_rule(BusinessRule(**(defaults | fields)))


class TestBusinessRuleEvents:
    def test_a_rule_gets_a_daily_crontab_in_its_own_zone(self, frozen_now) -> None:
        event = rule().event
        crontab = event.periodic_task.crontab
        assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("0", "9", "Europe/Paris")
        assert event.next_run_at.astimezone(PARIS).isoformat() == "2026-12-02T09:00:00+01:00"

    def test_editing_the_time_replaces_the_event(self, frozen_now) -> None:
        r = rule()
        old = r.event
        r.execution_time = time(7, 30)
        save_business_rule(r)
        assert r.event.id != old.id
        assert r.event.periodic_task.crontab.hour == "7"
        old.refresh_from_db()
        assert old.status == EventStatus.CANCELLED

    def test_saving_without_a_change_keeps_the_event(self, frozen_now) -> None:
        r = rule()
        first = r.event.id
        save_business_rule(r)
        assert r.event.id == first
        assert ScheduledEvent.objects.count() == 1

    def test_disabling_cancels_and_enabling_schedules_again(self, frozen_now) -> None:
        r = rule()
        r.enabled = False
        save_business_rule(r)
        assert r.event is None
        assert ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED).count() == 0
        r.enabled = True
        save_business_rule(r)
        assert r.event.status == EventStatus.SCHEDULED

    def test_an_unknown_zone_is_rejected(self, frozen_now) -> None:
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError):
            rule(timezone="Europe/Atlantis")
        assert BusinessRule.objects.count() == 0


class TestRuleEffects:
    def test_mark_no_shows_marks_booked_appointments_that_ended(self, frozen_now, freezer, alice):
        past = NOW - timedelta(hours=3)
        ended = book_appointment(
            **booking_kwargs(start_time=past, end_time=past + timedelta(hours=1))
        ).appointment
        future = book_appointment(**booking_kwargs(participants=[alice])).appointment
        outcome = run(rule().event, freezer)

        assert recorded(outcome).result == {"marked_no_show": 1}
        ended.refresh_from_db()
        future.refresh_from_db()
        assert (ended.status, future.status) == (
            AppointmentStatus.NO_SHOW,
            AppointmentStatus.BOOKED,
        )

    def test_cancel_unconfirmed_cancels_late_unconfirmed_bookings_and_their_events(
        self, frozen_now, freezer
    ) -> None:
        soon = book_appointment(**booking_kwargs()).appointment  # 3 Dec, within 24 h of the run
        confirmed = book_appointment(**booking_kwargs(title="Confirmed")).appointment
        confirm_appointment(confirmed)
        later = book_appointment(
            **booking_kwargs(
                start_time=datetime(2026, 12, 20, 10, tzinfo=NY),
                end_time=datetime(2026, 12, 20, 11, tzinfo=NY),
            )
        ).appointment
        # Runs 2 Dec 08:00 UTC; 36 hours later is 3 Dec 20:00 UTC.
        outcome = run(
            rule(rule_key="cancel_unconfirmed", context={"hours_before_start": 36}).event, freezer
        )

        assert recorded(outcome).result["cancelled"] == 1
        statuses = dict(Appointment.objects.values_list("pk", "status"))
        assert statuses == {
            soon.pk: AppointmentStatus.CANCELLED,
            confirmed.pk: AppointmentStatus.BOOKED,
            later.pk: AppointmentStatus.BOOKED,
        }
        assert not ScheduledEvent.objects.filter(
            entity_id=soon.entity_id, status=EventStatus.SCHEDULED
        ).exists()


class TestMonthlyReport:
    def test_it_writes_the_previous_months_counts_per_resource(self, frozen_now, freezer) -> None:
        for resource, status, start in [
            ("room-1", AppointmentStatus.COMPLETED, datetime(2026, 12, 3, 10, tzinfo=NY)),
            ("room-1", AppointmentStatus.NO_SHOW, datetime(2026, 12, 4, 10, tzinfo=NY)),
            ("room-1", AppointmentStatus.CANCELLED, datetime(2026, 12, 5, 10, tzinfo=NY)),
            ("room-2", AppointmentStatus.COMPLETED, datetime(2026, 12, 31, 23, 30, tzinfo=NY)),
            # Outside December in New York (the first is inside it in UTC).
            ("room-2", AppointmentStatus.COMPLETED, datetime(2026, 11, 30, 23, 30, tzinfo=NY)),
            ("room-2", AppointmentStatus.COMPLETED, datetime(2027, 1, 1, 0, 30, tzinfo=NY)),
        ]:
            Appointment.objects.create(
                title="x",
                resource=resource,
                start_time=start,
                end_time=start + timedelta(minutes=20),
                resource_timezone="America/New_York",
                user_timezone="America/New_York",
                status=status,
            )
        # Created on 1 December after 06:00 New York: it first runs on
        # 1 January, for December.
        schedule = save_report_schedule(
            ReportSchedule(
                name="monthly", by_month_day=1, time_of_day=time(6, 0), timezone="America/New_York"
            )
        )
        outcome = run(schedule.event, freezer)

        report = Report.objects.get()
        assert recorded(outcome).result["report_id"] == report.pk
        assert report.period_start.astimezone(NY).isoformat() == "2026-12-01T00:00:00-05:00"
        with default_storage.open(report.file.name) as handle:
            rows = list(csv.DictReader(handle.read().decode().splitlines()))
        header = ["resource", "booked", "cancelled", "no_show", "completed", "total"]
        assert [[row[c] for c in header] for row in rows] == [
            ["room-1", "0", "1", "1", "1", "3"],
            ["room-2", "0", "0", "0", "1", "1"],
        ]

    def test_a_second_run_of_the_same_firing_writes_no_second_report(self, frozen_now, freezer):
        schedule = save_report_schedule(
            ReportSchedule(
                name="m", by_month_day=-1, time_of_day=time(18, 0), timezone="Australia/Sydney"
            )
        )
        event = schedule.event
        freezer.move_to(event.next_run_at)
        [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
        kwargs = {"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
        process_event.apply(kwargs=kwargs)
        from scheduling.models import Occurrence, OccurrenceStatus

        Occurrence.objects.update(status=OccurrenceStatus.RUNNING)  # redelivered
        process_event.apply(kwargs=kwargs)
        assert Report.objects.count() == 1


def test_the_data_cleanup_event_is_created_once(frozen_now) -> None:
    first = ensure_data_cleanup_event(days_to_keep=90, at=time(3, 0))
    again = ensure_data_cleanup_event(days_to_keep=90, at=time(3, 0))
    assert again.id == first.id
    changed = ensure_data_cleanup_event(days_to_keep=30, at=time(3, 0))
    assert changed.id != first.id
    assert changed.payload == {"days_to_keep": 30}
    assert ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED).count() == 1
