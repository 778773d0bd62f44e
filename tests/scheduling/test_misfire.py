"""Misfires: beat is stopped, the clock moves on, beat comes back.

The scheduler's clock is frozen (freezegun) and moved while no tick runs,
exactly as if the beat process had been down.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from scheduling import schedule_event
from scheduling.beat import EventScheduler
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db(transaction=True)

UTC = ZoneInfo("UTC")
NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with freeze_time(T0) as frozen:
        yield frozen


def beat_down_until(clock, beat_app, when: datetime) -> None:
    """Beat ticks once now, is down until ``when``, and then a new beat ticks."""
    EventScheduler(app=beat_app).tick()
    clock.move_to(when)
    EventScheduler(app=beat_app).tick()


def test_a_reminder_reached_three_hours_late_is_missed_not_sent(clock, beat_app, published):
    event = schedule_event(**event_kwargs(scheduled_time=T0 + timedelta(minutes=15)))
    beat_down_until(clock, beat_app, T0 + timedelta(hours=3, minutes=15))

    assert published == []
    occurrence = Occurrence.objects.get(event=event)
    assert occurrence.status == OccurrenceStatus.MISSED
    assert "grace for APPOINTMENT_REMINDER is 0:10:00" in occurrence.error
    event.refresh_from_db()
    assert event.status == EventStatus.MISSED


def test_a_reminder_a_few_minutes_late_still_goes_out(clock, beat_app, published):
    schedule_event(**event_kwargs(scheduled_time=T0 + timedelta(minutes=15)))
    beat_down_until(clock, beat_app, T0 + timedelta(minutes=20))
    assert len(published) == 1


def test_a_report_runs_however_late(clock, beat_app, published):
    schedule_event(
        **event_kwargs(
            event_type="REPORT_GENERATION",
            scheduled_time=T0 + timedelta(minutes=1),
            payload={"report_id": "monthly", "report_type": "monthly"},
        )
    )
    beat_down_until(clock, beat_app, T0 + timedelta(days=3))
    assert len(published) == 1


def daily_rule_at_nine_new_york():
    return schedule_event(
        **event_kwargs(
            event_type="BUSINESS_RULE",
            scheduled_time=datetime(2026, 12, 2, 9, 0, tzinfo=NY),
            payload={"rule_id": "no-shows"},
            recurrence={"frequency": "DAILY"},
        )
    )


def test_a_daily_rule_down_for_days_runs_once_for_its_latest_slot(clock, beat_app, published):
    event = daily_rule_at_nine_new_york()
    beat_down_until(clock, beat_app, datetime(2026, 12, 5, 9, 20, tzinfo=NY))

    [message] = published
    occurrence = Occurrence.objects.get(pk=message["kwargs"]["occurrence_id"])
    assert occurrence.scheduled_for.isoformat() == "2026-12-05T14:00:00+00:00"
    event.refresh_from_db()
    assert event.fired_count == 4  # 2, 3, 4 and 5 December: counted, run once
    assert event.next_run_at.isoformat() == "2026-12-06T14:00:00+00:00"


def test_when_the_latest_slot_is_past_its_grace_one_miss_is_recorded(clock, beat_app, published):
    event = daily_rule_at_nine_new_york()
    beat_down_until(clock, beat_app, datetime(2026, 12, 5, 11, 0, tzinfo=NY))

    assert published == []
    [occurrence] = Occurrence.objects.filter(event=event)
    assert occurrence.status == OccurrenceStatus.MISSED
    event.refresh_from_db()
    assert event.status == EventStatus.SCHEDULED  # the rule goes on
    assert event.next_run_at.isoformat() == "2026-12-06T14:00:00+00:00"


def test_the_grace_of_a_type_is_configurable(clock, beat_app, published, settings):
    settings.SCHEDULING_MISFIRE_GRACE_SECONDS = {"REPORT_GENERATION": 60}
    schedule_event(
        **event_kwargs(
            event_type="REPORT_GENERATION",
            scheduled_time=T0 + timedelta(minutes=1),
            payload={"report_id": "monthly", "report_type": "monthly"},
        )
    )
    beat_down_until(clock, beat_app, T0 + timedelta(minutes=5))
    assert published == []


def test_count_includes_coalesced_slots(clock, beat_app, published):
    event = schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            scheduled_time=datetime(2026, 12, 2, 9, 0, tzinfo=NY),
            payload={},
            recurrence={"frequency": "DAILY", "count": 3},
        )
    )
    beat_down_until(clock, beat_app, datetime(2026, 12, 10, 9, 0, tzinfo=NY))
    assert len(published) == 1
    event.refresh_from_db()
    assert event.next_run_at is None  # three slots have passed: the rule is over
