"""The real beat tick, stepped under a frozen clock across DST transitions.

Records the instants at which ``backend.process_event`` is published: what
the scheduler does, not only what the time module computes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from scheduling import schedule_event
from scheduling.beat import EventScheduler
from tests.conftest import UTC, event_kwargs

pytestmark = pytest.mark.django_db(transaction=True)

MAX_TICKS = 500


@pytest.fixture(autouse=True)
def _long_sleeps(settings):
    # Let beat sleep as long as it wants: it must wake exactly when due.
    settings.SCHEDULING_BEAT_POLL_SECONDS = 3600
    # No worker runs here, so nothing published ever starts: over these days
    # of frozen time beat would take every message for lost and publish it
    # again (that is tested in test_beat.py).
    settings.SCHEDULING_SENT_REPUBLISH_SECONDS = 30 * 86400


def fire_times(beat_app, published, *, zone: str, wall: str, days: tuple[str, str], edit=None):
    """Schedule a daily rule at ``wall`` in ``zone`` and run beat's loop over ``days``.

    The loop is celery beat's own: tick, then sleep for what the tick
    returned, on a frozen clock that the sleep moves. Return the local ISO
    instants of every ``backend.process_event`` publish. ``edit`` may change
    the event's crontab first, as an admin would.
    """
    tz = ZoneInfo(zone)
    first = datetime.fromisoformat(days[0]).replace(tzinfo=tz)
    last = datetime.fromisoformat(days[1]).replace(tzinfo=tz)
    hour, minute = map(int, wall.split(":"))
    with freeze_time(first) as clock:
        event = schedule_event(
            **event_kwargs(
                event_type="DATA_CLEANUP",
                scheduled_time=first.replace(hour=hour, minute=minute),
                resource_timezone=zone,
                payload={},
                recurrence={"frequency": "DAILY"},
            )
        )
        if edit is not None:
            edit(event.periodic_task.crontab)
        scheduler = EventScheduler(app=beat_app, max_interval=3600)
        # In UTC: adding to a zoned datetime would add wall-clock time.
        now = first.astimezone(UTC)
        for _ in range(MAX_TICKS):
            if now > last:
                break
            clock.move_to(now)
            # A tick that returns 0 is followed at once by another, a few
            # milliseconds later in real time.
            now += timedelta(seconds=max(scheduler.tick(), 0.05))
        else:
            pytest.fail("beat did not get through the window")
    # Outside the frozen clock, from timestamps: FakeDatetime loses ``fold``.
    return [
        datetime.fromtimestamp(m["at"].timestamp(), tz).isoformat()
        for m in published
        if m["task"] == "backend.process_event"
    ]


class TestNewYork:
    # 2026-03-08 02:00 EST → 03:00 EDT (07:00 UTC); 2026-11-01 02:00 EDT → 01:00 EST (06:00 UTC).

    def test_spring_a_time_in_the_gap_fires_once_just_after_it(self, beat_app, published):
        assert fire_times(
            beat_app,
            published,
            zone="America/New_York",
            wall="02:30",
            days=("2026-03-07T00:00", "2026-03-09T23:59"),
        ) == [
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
        ]

    def test_autumn_a_repeated_time_fires_once(self, beat_app, published):
        assert fire_times(
            beat_app,
            published,
            zone="America/New_York",
            wall="01:30",
            days=("2026-10-31T00:00", "2026-11-02T23:59"),
        ) == [
            "2026-10-31T01:30:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-02T01:30:00-05:00",
        ]

    def test_autumn_an_hourly_crontab_fires_every_real_hour(self, beat_app, published):
        def hourly(crontab):
            crontab.hour = "*"
            crontab.minute = "0"
            crontab.save()

        fired = fire_times(
            beat_app,
            published,
            zone="America/New_York",
            wall="00:00",
            days=("2026-11-01T00:00", "2026-11-01T03:30"),
            edit=hourly,
        )
        # (The edit at 00:00 moves the next run to the next hour.)
        assert fired == [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ]


class TestSydney:
    # 2026-04-05 03:00 AEDT → 02:00 AEST (16:00 UTC on the 4th);
    # 2026-10-04 02:00 AEST → 03:00 AEDT (16:00 UTC on the 3rd).

    def test_spring_a_time_in_the_gap_fires_once_just_after_it(self, beat_app, published):
        assert fire_times(
            beat_app,
            published,
            zone="Australia/Sydney",
            wall="02:30",
            days=("2026-10-03T00:00", "2026-10-05T23:59"),
        ) == [
            "2026-10-03T02:30:00+10:00",
            "2026-10-04T03:00:00+11:00",
            "2026-10-05T02:30:00+11:00",
        ]

    def test_autumn_a_repeated_time_fires_once(self, beat_app, published):
        assert fire_times(
            beat_app,
            published,
            zone="Australia/Sydney",
            wall="02:30",
            days=("2026-04-04T00:00", "2026-04-06T23:59"),
        ) == [
            "2026-04-04T02:30:00+11:00",
            "2026-04-05T02:30:00+11:00",
            "2026-04-06T02:30:00+10:00",
        ]
