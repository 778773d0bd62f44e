"""The richer recurrences through the database: beat's claims and the upcoming list agree.

Claims are taken with ``now`` passed, a minute after each due instant and
also a minute before it, so a firing that should not happen would be
claimed (``claim_due_occurrences`` claims whatever is due by ``now``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduling import EventValidationError, get_upcoming_events, schedule_event
from scheduling.models import Occurrence, ScheduledEvent
from scheduling.services.occurrences import claim_due_occurrences
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")


def recurring(recurrence: dict[str, Any], start: datetime, zone: str) -> ScheduledEvent:
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            payload={},
            scheduled_time=start,
            resource_timezone=zone,
            recurrence=recurrence,
        )
    )


def claimed_times(event: ScheduledEvent, n: int, zone: ZoneInfo) -> list[str]:
    """Step beat's claims through the event's next ``n`` firings; their local instants."""
    for _ in range(n):
        event.refresh_from_db()
        due = event.next_run_at
        assert due is not None
        # A minute early nothing is due; at the instant it is claimed, once.
        assert claim_due_occurrences(now=due - timedelta(minutes=1), limit=10) == []
        [claim] = claim_due_occurrences(now=due, limit=10)
        assert claim.event_id == str(event.id)
    occurrences = Occurrence.objects.filter(event=event).order_by("scheduled_for")
    return [o.scheduled_for.astimezone(zone).isoformat() for o in occurrences]


def upcoming_times(zone: str, end: datetime) -> list[str]:
    return [i["scheduled_time"] for i in get_upcoming_events(end_time=end, timezone=zone)]


class TestTheLastFridayWithAnExcludedDate:
    # New York springs forward on 2027-03-14 (02:00 EST → 03:00 EDT); the last
    # Friday of January 2027 (the 29th) is excluded.
    RULE = {"frequency": "MONTHLY", "by_weekday": ["-1FR"], "exclude": ["2027-01-29"]}
    START = datetime(2026, 12, 2, 9, 0, tzinfo=NY)
    EXPECTED = [
        "2026-12-25T09:00:00-05:00",
        "2027-02-26T09:00:00-05:00",
        "2027-03-26T09:00:00-04:00",
    ]

    def test_beat_claims_the_last_fridays_and_skips_the_excluded_one(self, frozen_now) -> None:
        event = recurring(self.RULE, self.START, "America/New_York")
        assert event.periodic_task.crontab.day_of_week == "5"  # every Friday; the rule picks

        assert claimed_times(event, 3, NY) == self.EXPECTED

    def test_upcoming_events_lists_the_same_instants(self, frozen_now) -> None:
        recurring(self.RULE, self.START, "America/New_York")

        end = datetime(2027, 3, 31, tzinfo=NY)
        assert upcoming_times("America/New_York", end) == self.EXPECTED


class TestHourlyAcrossFallBack:
    # Paris falls back on 2026-10-25 (03:00 CEST → 02:00 CET, 01:00 UTC): every
    # two hours stays two real hours apart. NOW is moved to the day before.
    RULE = {"frequency": "HOURLY", "interval": 2}
    START = datetime(2026, 10, 25, 0, 30, tzinfo=PARIS)
    EXPECTED = [
        "2026-10-25T00:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T03:30:00+01:00",
        "2026-10-25T05:30:00+01:00",
    ]

    @pytest.fixture
    def day_before(self, freezer: Any) -> None:
        freezer.move_to(datetime(2026, 10, 24, 12, 0, tzinfo=PARIS))

    def test_beat_claims_every_two_real_hours(self, day_before) -> None:
        event = recurring(self.RULE, self.START, "Europe/Paris")

        assert claimed_times(event, 4, PARIS) == self.EXPECTED

    def test_upcoming_events_lists_the_same_instants(self, day_before) -> None:
        recurring(self.RULE, self.START, "Europe/Paris")

        end = datetime(2026, 10, 25, 5, 30, tzinfo=PARIS).astimezone(ZoneInfo("UTC"))
        assert upcoming_times("Europe/Paris", end) == self.EXPECTED


def test_a_rule_whose_every_date_left_is_excluded_is_refused(frozen_now) -> None:
    rule = {
        "frequency": "DAILY",
        "until": "2026-12-03T23:59:00-05:00",
        "exclude": ["2026-12-02", "2026-12-03"],
    }
    with pytest.raises(EventValidationError) as caught:
        recurring(rule, datetime(2026, 12, 2, 9, 0, tzinfo=NY), "America/New_York")
    assert "recurrence.exclude" in caught.value.message_dict
    assert not ScheduledEvent.objects.exists()
