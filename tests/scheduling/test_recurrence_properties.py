"""Properties of the one time semantics, over every zone in tzdata.

CI runs a sample (hypothesis draws zones, transitions and wall times, the
same ones every run); ``HYPOTHESIS_PROFILE=thorough`` draws thousands at
random; the full sweep (every zone, every transition 2020-2037, wall times
every 15 minutes for 3 hours either side of each) runs with
``pytest -m sweep``.
"""

from __future__ import annotations

import dataclasses
import itertools
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling import recurrence
from scheduling.recurrence import WEEKDAYS, CronPattern, iter_fires, parse_recurrence
from scheduling.timecheck import known_timezones
from tests.scheduling.transitions import LAST_YEAR, transitions, wall_time_exists

ZONES = sorted(known_timezones())
ZONES_WITH_TRANSITIONS = [z for z in ZONES if transitions(z)]
# How many examples, and whether they are random, comes from the hypothesis
# profile (tests/conftest.py): "ci" by default, HYPOTHESIS_PROFILE=thorough
# for a long random hunt.
SAMPLE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def daily_firings(zone: str, at: time, around: datetime, days: int = 4) -> list[datetime]:
    """A daily rule at wall time ``at`` in ``zone``, firing around an instant."""
    # The crontab a DAILY rule at `at` stores (its start may itself be in a gap).
    pattern = CronPattern(str(at.minute), str(at.hour), "*", "*", "*")
    fires = iter_fires(pattern, zone, after=around - timedelta(days=days))
    return list(_until(fires, around + timedelta(days=days)))


def _until(fires, end: datetime):
    for instant in fires:
        if instant > end:
            return
        yield instant


def check_daily(zone: str, at: time, around: datetime) -> None:
    fires = daily_firings(zone, at, around)
    # Each firing stands for one local date: its own, or, when the wall time
    # fell in a gap, the date whose wall time was skipped.
    dates = [nominal_date(zone, at, instant) for instant in fires]
    assert len(set(dates)) == len(dates), (zone, at, fires)
    # ...and no date is left out (a date the zone skips gets the firing just
    # after the gap: see the Pacific/Apia case in test_recurrence.py).
    assert len(dates) == (dates[-1] - dates[0]).days + 1, (zone, at, fires)
    biggest_shift = max((abs(t.shift) for t in transitions(zone)), default=timedelta(0))
    for earlier, later in itertools.pairwise(fires):
        # Never twice within a day, less what the clocks jumped.
        assert later - earlier >= timedelta(hours=24) - biggest_shift, (zone, at, earlier, later)


def nominal_date(zone: str, at: time, instant: datetime) -> date:
    """The local date a firing of a daily rule at ``at`` is for; checks its instant."""
    tz = zoneinfo.ZoneInfo(zone)
    local = instant.astimezone(tz)
    if local.time() == at:
        # A repeated wall time fires at its first occurrence only.
        wanted = datetime.combine(local.date(), at)
        assert local.fold == 0 or not _is_repeated(tz, wanted), (zone, at, instant)
        return local.date()
    # The wall time did not exist that day (a gap): the rule fired at the
    # first instant after the gap, a transition instant, which is on the
    # next local date when the gap spans midnight.
    assert instant in {t.instant for t in transitions(zone)}, (zone, at, instant)
    for day in (local.date(), local.date() - timedelta(days=1)):
        if not wall_time_exists(zone, datetime.combine(day, at)):
            return day
    raise AssertionError((zone, at, instant, "fired off its wall time outside a gap"))


def _is_repeated(tz: zoneinfo.ZoneInfo, wall: datetime) -> bool:
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return first != second


wall_times = st.builds(
    time,
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59),
)


@SAMPLE
@given(data=st.data(), at=wall_times)
def test_a_daily_rule_fires_once_per_local_date_across_a_transition(data, at: time) -> None:
    zone = data.draw(st.sampled_from(ZONES_WITH_TRANSITIONS))
    transition = data.draw(st.sampled_from(transitions(zone)))
    check_daily(zone, at, transition.instant)


@SAMPLE
@given(zone=st.sampled_from(ZONES), at=wall_times, day=st.integers(0, 365 * 17))
def test_a_daily_rule_fires_once_per_local_date_in_any_zone(zone: str, at: time, day: int) -> None:
    check_daily(zone, at, datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=day))


@SAMPLE
@given(data=st.data(), minute=st.integers(0, 59))
def test_an_hourly_pattern_fires_every_real_hour_none_skipped_none_doubled(data, minute) -> None:
    zone = data.draw(st.sampled_from(ZONES_WITH_TRANSITIONS))
    transition = data.draw(st.sampled_from(transitions(zone)))
    hourly = CronPattern(str(minute), "*", "*", "*", "*")
    start = transition.instant - timedelta(hours=6)
    fires = list(_until(iter_fires(hourly, zone, after=start), start + timedelta(hours=12)))
    # Whole-hour shifts: exactly every real hour. Lord Howe's 30-minute shift
    # moves the local minute against UTC by those 30 minutes, once.
    slack = abs(transition.shift) % timedelta(hours=1)
    for earlier, later in itertools.pairwise(fires):
        assert timedelta(hours=1) - slack <= later - earlier <= timedelta(hours=1) + slack, (
            zone,
            minute,
            earlier,
            later,
        )


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    day=st.sampled_from([1, 15, 28, 29, 30, 31, -1, -2, -31]),
    year=st.integers(2020, LAST_YEAR - 1),
)
def test_a_monthly_rule_fires_once_in_each_month_that_has_the_day(zone, at, day, year) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime(year, 1, 1, at.hour, at.minute, tzinfo=tz)
    rule = parse_recurrence(
        {"frequency": "MONTHLY", "by_month_day": [day]}, start=start, default_timezone=zone
    )
    end = datetime(year + 1, 1, 1, tzinfo=tz) - timedelta(microseconds=1)
    fires = list(
        _until(iter_fires(rule.to_cron(), zone, after=start - timedelta(seconds=1), rule=rule), end)
    )
    # The date each firing is for (a gap spanning midnight moves the instant
    # to the next date, even the next month: America/Nuuk at 23:00).
    dates = [nominal_date(zone, at, f) for f in fires]
    assert len({d.month for d in dates}) == len(dates)
    # Months too short for the day (31, 30, 29; -31 from the end) are skipped.
    assert len(dates) == sum(1 for m in range(1, 13) if _days_in_month(year, m) >= abs(day))
    for d in dates:
        length = _days_in_month(year, d.month)
        assert d.day == (day if day > 0 else length + 1 + day), (zone, day, d)


def _days_in_month(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    start_day=st.integers(0, 365 * 16),
    interval=st.integers(1, 3),
)
def test_a_weekly_rule_fires_once_per_week_in_phase(zone, at, start_day, interval) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start_date = date(2020, 1, 1) + timedelta(days=start_day)
    start = datetime.combine(start_date, at).replace(tzinfo=tz)
    rule = parse_recurrence(
        {"frequency": "WEEKLY", "interval": interval}, start=start, default_timezone=zone
    )
    fires = list(
        _until(
            iter_fires(rule.to_cron(), zone, after=start - timedelta(seconds=1), rule=rule),
            start + timedelta(weeks=20, minutes=-1),
        )
    )
    dates = [f.astimezone(tz).date() for f in fires]
    assert all(d.weekday() == start_date.weekday() for d in dates)
    assert [(b - a).days for a, b in itertools.pairwise(dates)] == [7 * interval] * (len(dates) - 1)
    assert len(dates) == 20 // interval + (1 if 20 % interval else 0)


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    start_day=st.integers(0, 365 * 16),
    count=st.integers(1, 40),
)
def test_count_is_honoured_exactly(zone, at, start_day, count) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime.combine(date(2020, 1, 1) + timedelta(days=start_day), at).replace(tzinfo=tz)
    rule = parse_recurrence(
        {"frequency": "DAILY", "count": count}, start=start, default_timezone=zone
    )
    fires = list(iter_fires(rule.to_cron(), zone, after=start - timedelta(days=1), rule=rule))
    assert len(fires) == count


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    start_day=st.integers(0, 365 * 16),
    span=st.integers(0, 60 * 24 * 40),
)
def test_until_is_honoured_exactly(zone, at, start_day, span) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime.combine(date(2020, 1, 1) + timedelta(days=start_day), at).replace(tzinfo=tz)
    until = start + timedelta(minutes=span)
    rule = parse_recurrence(
        {"frequency": "DAILY", "until": until.isoformat()}, start=start, default_timezone=zone
    )
    fires = list(iter_fires(rule.to_cron(), zone, after=start - timedelta(days=1), rule=rule))
    assert all(f <= until for f in fires)
    unbounded = parse_recurrence({"frequency": "DAILY"}, start=start, default_timezone=zone)
    following = next(
        iter_fires(unbounded.to_cron(), zone, after=fires[-1] if fires else start, rule=unbounded)
    )
    assert following > until


def check_hourly(zone: str, minute: int, interval: int, around: datetime) -> None:
    """An HOURLY rule fires every ``interval`` real hours across ``around``, at its minute."""
    tz = zoneinfo.ZoneInfo(zone)
    start = (around - timedelta(hours=6)).astimezone(tz).replace(minute=minute, second=0)
    rule = parse_recurrence(
        {"frequency": "HOURLY", "interval": interval}, start=start, default_timezone=zone
    )
    # In UTC: adding to a zoned datetime would add wall-clock time.
    fires = list(_until(_rule_fires(rule), start.astimezone(UTC) + timedelta(hours=12)))
    assert fires[0] == start, (zone, minute, interval, fires[0])
    # A shift of less than an hour (Lord Howe's 30 minutes) keeps the local
    # minute, so the firing across it comes that much early or late, once.
    slack = max((abs(t.shift) % timedelta(hours=1) for t in transitions(zone)), default=ZERO)
    step = timedelta(hours=interval)
    for earlier, later in itertools.pairwise(fires):
        assert step - slack <= later - earlier <= step + slack, (zone, minute, interval, earlier)
        assert later.astimezone(tz).minute == minute, (zone, minute, interval, later)
    if not slack:
        assert len(fires) == 12 // interval + 1, (zone, minute, interval, fires)


ZERO = timedelta(0)


def _rule_fires(rule: recurrence.Rule):
    return iter_fires(
        rule.to_cron(), rule.timezone, after=rule.start - timedelta(seconds=1), rule=rule
    )


@SAMPLE
@given(data=st.data(), minute=st.integers(0, 59), interval=st.integers(1, 5))
def test_an_hourly_rule_fires_every_n_real_hours_across_a_transition(
    data, minute, interval
) -> None:
    zone = data.draw(st.sampled_from(ZONES_WITH_TRANSITIONS))
    transition = data.draw(st.sampled_from(transitions(zone)))
    check_hourly(zone, minute, interval, transition.instant)


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    position=st.sampled_from([1, 2, 3, 4, 5, -1, -2, -5]),
    weekday=st.sampled_from(list(WEEKDAYS)),
    months=st.sets(st.integers(1, 12), min_size=1),
    year=st.integers(2020, LAST_YEAR - 1),
)
def test_a_position_in_the_month_fires_once_in_each_month_that_has_it(
    zone, at, position, weekday, months, year
) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime(year, 1, 1, at.hour, at.minute, tzinfo=tz)
    raw = {"frequency": "MONTHLY", "by_weekday": [f"{position}{weekday}"], "by_month": [*months]}
    rule = parse_recurrence(raw, start=start, default_timezone=zone)
    end = datetime(year + 1, 1, 1, tzinfo=tz) - timedelta(microseconds=1)
    dates = [nominal_date(zone, at, f) for f in _until(_rule_fires(rule), end)]
    expected = [d for m in sorted(months) if (d := _nth_weekday(year, m, weekday, position))]
    assert dates == expected, (zone, at, raw, dates)


def _nth_weekday(year: int, month: int, code: str, position: int) -> date | None:
    days = [
        date(year, month, d)
        for d in range(1, _days_in_month(year, month) + 1)
        if date(year, month, d).isoweekday() % 7 == WEEKDAYS[code]
    ]
    index = position - 1 if position > 0 else position
    return days[index] if -len(days) <= index < len(days) else None


@SAMPLE
@given(
    zone=st.sampled_from(ZONES_WITH_TRANSITIONS),
    at=wall_times,
    frequency=st.sampled_from(["DAILY", "HOURLY"]),
    start_day=st.integers(0, 365 * 16),
    excluded=st.sets(st.integers(-1, 6), max_size=5),
)
def test_exclusions_remove_exactly_the_firings_of_their_local_dates(
    zone, at, frequency, start_day, excluded
) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    start_date = date(2020, 1, 1) + timedelta(days=start_day)
    start = datetime.combine(start_date, at).replace(tzinfo=tz)
    days = {start_date + timedelta(days=d) for d in excluded}
    plain = parse_recurrence({"frequency": frequency}, start=start, default_timezone=zone)
    rule = parse_recurrence(
        {"frequency": frequency, "exclude": [d.isoformat() for d in days]},
        start=start,
        default_timezone=zone,
    )
    # Hourly rules fire 24 times a day: two days show as much, at a twelfth of the cost.
    end = start.astimezone(UTC) + timedelta(days=6 if frequency == "DAILY" else 2)
    kept = [
        f
        for f in _until(_rule_fires(plain), end)
        if recurrence.nominal_date(plain, f.astimezone(tz)) not in days
    ]
    assert list(_until(_rule_fires(rule), end)) == kept, (zone, at, frequency, days)


@pytest.mark.sweep
def test_full_sweep_every_zone_every_transition() -> None:
    cases = 0
    covered = 0
    for zone in ZONES_WITH_TRANSITIONS:
        tz = zoneinfo.ZoneInfo(zone)
        for transition in transitions(zone):
            covered += 1
            local = transition.instant.astimezone(tz)
            for quarter in range(-12, 13):
                wall = (local + timedelta(minutes=15 * quarter)).time().replace(second=0)
                check_daily(zone, wall, transition.instant)
                cases += 1
    print(f"sweep: {len(ZONES_WITH_TRANSITIONS)} zones, {covered} transitions, {cases} cases")


@pytest.mark.sweep
def test_full_sweep_hourly_rules_and_exclusions() -> None:
    """Every transition: HOURLY every 1-3 hours, and a daily rule excluding the change day."""
    cases = 0
    for zone in ZONES_WITH_TRANSITIONS:
        tz = zoneinfo.ZoneInfo(zone)
        for transition in transitions(zone):
            for minute, interval in itertools.product((0, 15, 30, 45), (1, 2, 3)):
                check_hourly(zone, minute, interval, transition.instant)
                cases += 1
            local = transition.instant.astimezone(tz)
            for hours in range(-3, 4):
                wall = (local + timedelta(hours=hours)).time().replace(second=0)
                check_daily_exclusion(zone, wall, transition.instant)
                cases += 1
    print(f"sweep (hourly, exclude): {cases} cases")


def check_daily_exclusion(zone: str, at: time, around: datetime) -> None:
    """Excluding the local date of ``around`` removes that date's firing, and only it."""
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime.combine((around - timedelta(days=3)).astimezone(tz).date(), at, tz)
    day = around.astimezone(tz).date()
    plain = parse_recurrence({"frequency": "DAILY"}, start=start, default_timezone=zone)
    rule = dataclasses.replace(plain, exclude=frozenset({day}))
    end = start.astimezone(UTC) + timedelta(days=6)
    every = list(_until(_rule_fires(plain), end))
    kept = [f for f in every if nominal_date(zone, at, f) != day]
    assert len(kept) == len(every) - 1, (zone, at, every)
    assert list(_until(_rule_fires(rule), end)) == kept, (zone, at, day)
