"""The operations dashboard's reads (scheduling.dashboard), at a frozen instant."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import TextField, Value

from scheduling import dashboard
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus
from tests.dashboard_rows import TRACEBACK, event, firing, heartbeat

pytestmark = pytest.mark.django_db

# Tuesday 2026-12-01 12:30 UTC: half past, so the timeline's first hour is partial.
HALF_PAST = datetime.fromisoformat("2026-12-01T12:30:00+00:00")


@pytest.fixture
def now(freezer) -> datetime:
    freezer.move_to(HALF_PAST)
    return HALF_PAST


def ago(now: datetime, **delta: float) -> datetime:
    return now - timedelta(**delta)


# --- Beat ---------------------------------------------------------------------------


def test_beat_instances_are_fresh_late_or_stale_by_their_last_tick(now, settings) -> None:
    settings.SCHEDULING_BEAT_HEARTBEAT_SECONDS = 5
    settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS = 60
    heartbeat("standby-late:2", last_tick_at=ago(now, seconds=30), is_leader=False)
    heartbeat("leader:1", last_tick_at=ago(now, seconds=3), is_leader=True)
    heartbeat("standby-stale:3", last_tick_at=ago(now, seconds=61), is_leader=False)
    heartbeat("standby-fresh:4", last_tick_at=ago(now, seconds=10), is_leader=False)

    beats = dashboard.beat_instances(now=now)

    assert [(b.instance, b.is_leader, b.age_seconds, b.state) for b in beats] == [
        ("leader:1", True, 3.0, "fresh"),
        ("standby-fresh:4", False, 10.0, "fresh"),  # two heartbeats: still fresh
        ("standby-late:2", False, 30.0, "late"),
        ("standby-stale:3", False, 61.0, "stale"),  # what /health calls stale
    ]


def test_a_beat_whose_clock_runs_ahead_is_fresh_with_age_zero(now) -> None:
    heartbeat("ahead:1", last_tick_at=now + timedelta(seconds=2), is_leader=True)
    [beat] = dashboard.beat_instances(now=now)
    assert (beat.age_seconds, beat.state) == (0.0, "fresh")


# --- Backlog --------------------------------------------------------------------------


def test_the_backlog_counts_scheduled_events_due_and_the_oldest_ones_age(now) -> None:
    for seconds in (90, 10, 0):  # due at now counts: beat fires next_run_at <= now
        event(next_run_at=ago(now, seconds=seconds))
    event(next_run_at=now + timedelta(seconds=1))
    event(next_run_at=ago(now, hours=1), status=EventStatus.CANCELLED)
    event(next_run_at=None, status=EventStatus.COMPLETED)

    backlog = dashboard.due_backlog(now=now)

    assert (backlog.due, backlog.capped, backlog.oldest_age_seconds) == (3, False, 90.0)
    assert backlog.oldest_due_at.isoformat() == "2026-12-01T12:28:30+00:00"


def test_the_backlog_count_stops_at_its_cap(now, monkeypatch) -> None:
    monkeypatch.setattr(dashboard, "BACKLOG_COUNT_CAP", 2)
    for seconds in (3, 2, 1):
        event(next_run_at=ago(now, seconds=seconds))
    backlog = dashboard.due_backlog(now=now)
    assert (backlog.due, backlog.capped) == (2, True)


def test_an_empty_backlog_has_no_oldest(now) -> None:
    event(next_run_at=now + timedelta(minutes=5))
    backlog = dashboard.due_backlog(now=now)
    assert (backlog.due, backlog.oldest_due_at, backlog.oldest_age_seconds) == (0, None, None)


# --- Firing lag -----------------------------------------------------------------------


def test_lag_percentiles_over_the_last_hour_and_the_last_day(now) -> None:
    owner = event(next_run_at=None, status=EventStatus.COMPLETED)
    for minutes, lag in ((1, 0.1), (10, 0.2), (20, 0.3), (30, 0.4), (59, 10.0)):
        firing(owner, scheduled_for=ago(now, minutes=minutes), lag=lag)
    firing(owner, scheduled_for=ago(now, hours=3), lag=1.0)
    # Never sent, but started (a republish raced it): the start is its lag.
    firing(owner, scheduled_for=ago(now, hours=4), lag=None, started_lag=2.0)
    # Missed (never handed on), too old, or not due yet: not counted.
    firing(owner, scheduled_for=ago(now, hours=5), status=OccurrenceStatus.MISSED, lag=None)
    firing(owner, scheduled_for=ago(now, hours=25), lag=100.0)
    firing(owner, scheduled_for=now + timedelta(seconds=1), status="claimed", lag=None)

    hour, day = dashboard.firing_lag(now=now)

    # percentile_cont: linear between the two nearest ranks.
    assert (hour.window, hour.firings) == (timedelta(hours=1), 5)
    assert hour.p50 == pytest.approx(0.3)
    assert hour.p99 == pytest.approx(0.4 + (10.0 - 0.4) * 0.96)
    assert (day.window, day.firings) == (timedelta(days=1), 7)
    assert day.p50 == pytest.approx(0.4)
    assert day.p99 == pytest.approx(2.0 + (10.0 - 2.0) * 0.94)


def test_no_firings_means_no_percentiles(now) -> None:
    hour, day = dashboard.firing_lag(now=now)
    assert (hour.firings, hour.p50, hour.p99) == (0, None, None)
    assert (day.firings, day.p50, day.p99) == (0, None, None)


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL computes all in SQL")
def test_on_sqlite_the_lag_is_computed_over_the_latest_firings_only(now, monkeypatch) -> None:
    monkeypatch.setattr(dashboard, "LAG_SAMPLE_CAP", 3)
    owner = event(next_run_at=None, status=EventStatus.COMPLETED)
    for minutes, lag in ((1, 0.1), (2, 0.2), (90, 0.3), (120, 50.0)):
        firing(owner, scheduled_for=ago(now, minutes=minutes), lag=lag)
    hour, day = dashboard.firing_lag(now=now)
    assert (hour.firings, hour.sampled) == (2, False)
    assert (day.firings, day.sampled, day.p99) == (3, True, pytest.approx(0.298))


def test_percentile_cont_interpolates_as_postgresql() -> None:
    assert dashboard.percentile_cont([], 0.5) is None
    assert dashboard.percentile_cont([4.0], 0.99) == 4.0
    assert dashboard.percentile_cont([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


# --- Outcomes -------------------------------------------------------------------------


def test_outcomes_count_the_last_24_hours_finishes_by_status(now) -> None:
    owner = event(next_run_at=None, status=EventStatus.COMPLETED)
    for minutes in (5, 50):
        firing(owner, scheduled_for=ago(now, minutes=minutes))
    firing(owner, scheduled_for=ago(now, hours=2), status=OccurrenceStatus.FAILED)
    # Due 30 h ago, finished (retries) 23 h 59 min ago: inside, by when it finished.
    firing(
        owner,
        scheduled_for=ago(now, hours=30),
        status=OccurrenceStatus.MISSED,
        finished_at=ago(now, hours=23, minutes=59),
    )
    firing(owner, scheduled_for=ago(now, hours=26), status=OccurrenceStatus.FAILED)
    firing(owner, scheduled_for=ago(now, minutes=1), status=OccurrenceStatus.RUNNING)

    result = dashboard.outcomes(now=now)

    assert result.counts == {"succeeded": 2, "failed": 1, "skipped": 0, "missed": 1}
    assert (result.since.isoformat(), result.until.isoformat(), result.total) == (
        "2026-11-30T12:30:00+00:00",
        "2026-12-01T12:30:00+00:00",
        4,
    )


# --- Latest failures ------------------------------------------------------------------


def test_the_latest_failures_come_newest_first_with_the_errors_last_line(now) -> None:
    owner = event(next_run_at=None, status=EventStatus.FAILED, entity_id="appt-7")
    firing(owner, scheduled_for=ago(now, hours=3), status="failed", error="bad payload: no id")
    firing(owner, scheduled_for=ago(now, hours=1), status="failed", error=TRACEBACK)
    firing(owner, scheduled_for=ago(now, minutes=30), status="succeeded")
    for hours in range(4, 10):
        firing(owner, scheduled_for=ago(now, hours=hours), status="failed", error="x")

    failures = dashboard.latest_failures(limit=2)

    rows = [(f.entity_id, f.event_type, f.finished_at.isoformat(), f.summary) for f in failures]
    assert rows == [
        (
            "appt-7",
            "APPOINTMENT_REMINDER",
            "2026-12-01T11:30:01+00:00",
            "smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
        ),
        ("appt-7", "APPOINTMENT_REMINDER", "2026-12-01T09:30:01+00:00", "bad payload: no id"),
    ]


def test_an_error_no_key_opens_is_named_not_raised(now) -> None:
    owner = event(next_run_at=None, status=EventStatus.FAILED)
    failed = firing(owner, scheduled_for=ago(now, hours=1), status="failed", error="secret")
    Occurrence.objects.filter(pk=failed.pk).update(error=Value("gAAAA-not-a-token", TextField()))
    [failure] = dashboard.latest_failures()
    assert failure.summary == "(error unreadable: no payload key opens it)"


# --- Upcoming timeline ----------------------------------------------------------------


def test_the_timeline_counts_the_next_24_hours_by_utc_hour_and_type(now) -> None:
    for at in ("12:45", "13:10", "13:59"):
        event(next_run_at=datetime.fromisoformat(f"2026-12-01T{at}:00+00:00"))
    event(
        next_run_at=datetime.fromisoformat("2026-12-02T03:00:00+00:00"), event_type="DATA_CLEANUP"
    )
    event(next_run_at=now + timedelta(hours=24))  # the window's last instant: in
    event(next_run_at=now + timedelta(hours=24, seconds=1))  # out
    event(next_run_at=now)  # due: the backlog's, not the timeline's
    event(next_run_at=now + timedelta(hours=1), status=EventStatus.CANCELLED)

    timeline = dashboard.upcoming_timeline(now=now)

    assert timeline.hours[0].isoformat() == "2026-12-01T12:00:00+00:00"
    assert timeline.hours[-1].isoformat() == "2026-12-02T12:00:00+00:00"
    assert len(timeline.hours) == 25
    assert list(timeline.counts) == ["APPOINTMENT_REMINDER", "DATA_CLEANUP"]  # busiest first
    reminders = timeline.counts["APPOINTMENT_REMINDER"]
    assert (reminders[0], reminders[1], reminders[24], sum(reminders)) == (1, 2, 1, 4)
    cleanup = timeline.counts["DATA_CLEANUP"]
    assert (cleanup[15], sum(cleanup)) == (1, 1)  # 03:00 UTC the next day
    assert timeline.total == 5


def test_the_timeline_at_the_top_of_an_hour_keeps_an_event_due_exactly_24_hours_on(
    freezer,
) -> None:
    top = datetime.fromisoformat("2026-12-01T12:00:00+00:00")
    freezer.move_to(top)
    event(next_run_at=top + timedelta(hours=24))
    timeline = dashboard.upcoming_timeline(now=top)
    assert len(timeline.hours) == 25
    assert timeline.counts["APPOINTMENT_REMINDER"][24] == 1
