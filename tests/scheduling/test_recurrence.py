"""The pure recurrence module: parsing and next-fire, DST cases in pairs."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scheduling.recurrence import (
    CronPattern,
    RecurrenceError,
    iter_fires,
    next_fire,
    parse_recurrence,
)

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
UTC = ZoneInfo("UTC")


def rule(raw: dict, start: datetime, tz: str = "America/New_York"):
    return parse_recurrence(raw, start=start, default_timezone=tz)


def fires(raw: dict, start: datetime, n: int, tz: str = "America/New_York") -> list[str]:
    r = rule(raw, start, tz)
    zone = ZoneInfo(r.timezone)
    out = iter_fires(r.to_cron(), r.timezone, after=start - timedelta(days=365), rule=r)
    return [t.astimezone(zone).isoformat() for _, t in zip(range(n), out, strict=False)]


class TestParsing:
    def test_it_takes_the_time_of_day_from_the_start_in_the_rules_zone(self) -> None:
        r = rule({"frequency": "DAILY"}, datetime(2026, 12, 1, 14, 30, tzinfo=UTC))
        assert r.to_cron() == CronPattern("30", "9", "*", "*", "*")

    def test_weekly_defaults_to_the_start_weekday(self) -> None:
        # 2026-12-01 is a Tuesday in New York.
        r = rule({"frequency": "WEEKLY"}, datetime(2026, 12, 1, 9, 0, tzinfo=NY))
        assert r.to_cron().day_of_week == "2"

    def test_monthly_last_day_widens_the_crontab(self) -> None:
        r = rule({"frequency": "MONTHLY", "by_month_day": [-1]}, datetime(2026, 12, 1, tzinfo=NY))
        assert r.to_cron().day_of_month == "*"

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            ({"frequency": "MINUTELY"}, "recurrence.frequency"),
            ({"frequency": "DAILY", "interval": 0}, "recurrence.interval"),
            ({"frequency": "DAILY", "interval": "2"}, "recurrence.interval"),
            ({"frequency": "MONTHLY", "by_month_day": [0]}, "recurrence.by_month_day"),
            ({"frequency": "MONTHLY", "by_month_day": [32]}, "recurrence.by_month_day"),
            ({"frequency": "MONTHLY", "by_month_day": [-32]}, "recurrence.by_month_day"),
            ({"frequency": "MONTHLY", "by_month_day": ["1"]}, "recurrence.by_month_day"),
            ({"frequency": "DAILY", "by_month_day": [1]}, "recurrence.by_month_day"),
            ({"frequency": "WEEKLY", "by_weekday": ["Monday"]}, "recurrence.by_weekday"),
            ({"frequency": "DAILY", "count": 0}, "recurrence.count"),
            ({"frequency": "DAILY", "timezone": "Mars/Olympus"}, "recurrence.timezone"),
            ({"frequency": "DAILY", "until": "2025-01-01T00:00:00+00:00"}, "recurrence.until"),
            ({"frequency": "DAILY", "until": "2027-01-01T00:00:00"}, "recurrence.until"),
            ({"frequency": "DAILY", "colour": "red"}, "recurrence"),
            ({"frequency": "WEEKLY", "by_weekday": ["-1FR"]}, "recurrence.by_weekday"),
            ({"frequency": "DAILY", "by_weekday": ["2MO"]}, "recurrence.by_weekday"),
            ({"frequency": "MONTHLY", "by_weekday": ["6MO"]}, "recurrence.by_weekday"),
            ({"frequency": "MONTHLY", "by_weekday": ["0MO"]}, "recurrence.by_weekday"),
            ({"frequency": "MONTHLY", "by_weekday": ["-1fr"]}, "recurrence.by_weekday"),
            ({"frequency": "HOURLY", "by_month_day": [1]}, "recurrence.by_month_day"),
            ({"frequency": "YEARLY", "by_month": [0]}, "recurrence.by_month"),
            ({"frequency": "YEARLY", "by_month": [13]}, "recurrence.by_month"),
            ({"frequency": "YEARLY", "by_month": [-1]}, "recurrence.by_month"),
            ({"frequency": "YEARLY", "by_month": "2"}, "recurrence.by_month"),
            (
                {"frequency": "YEARLY", "by_month": [2, 4], "by_month_day": [31]},
                "recurrence.by_month_day",
            ),
            ({"frequency": "MONTHLY", "by_month": [2]}, "recurrence.by_month"),  # from the 31st
            ({"frequency": "DAILY", "exclude": "2026-12-25"}, "recurrence.exclude"),
            ({"frequency": "DAILY", "exclude": ["2026-12-25T09:00:00Z"]}, "recurrence.exclude"),
            ({"frequency": "DAILY", "exclude": ["2027-02-30"]}, "recurrence.exclude"),
            ({"frequency": "DAILY", "exclude": ["20261225"]}, "recurrence.exclude"),
            ({"frequency": "DAILY", "exclude": [20261225]}, "recurrence.exclude"),
            ({"frequency": "DAILY", "exclude": ["2026-12-25"] * 1001}, "recurrence.exclude"),
        ],
    )
    def test_it_rejects_malformed_recurrences_naming_the_field(self, raw: dict, field: str) -> None:
        with pytest.raises(RecurrenceError) as caught:
            rule(raw, datetime(2026, 12, 31, 9, 0, tzinfo=NY))
        assert field in caught.value.errors

    def test_positions_are_normalised_and_sorted_monday_first(self) -> None:
        raw = {"frequency": "MONTHLY", "by_weekday": ["-1FR", "+2MO", "MO", "2MO"]}
        assert rule(raw, datetime(2026, 12, 1, tzinfo=NY)).by_weekday == ("MO", "2MO", "-1FR")

    def test_the_stored_form_has_the_new_fields_only_when_set(self) -> None:
        # So an event stored before they existed compares equal on a replay.
        start = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
        assert set(rule({"frequency": "DAILY"}, start).as_dict()) == {
            "frequency",
            "interval",
            "by_month_day",
            "by_weekday",
            "count",
            "until",
            "timezone",
        }
        raw = {"frequency": "DAILY", "by_month": [12, 1], "exclude": ["2026-12-25", "2026-12-24"]}
        stored = rule(raw, start).as_dict()
        assert (stored["by_month"], stored["exclude"]) == ([1, 12], ["2026-12-24", "2026-12-25"])
        assert rule(stored, start) == rule(raw, start)

    @pytest.mark.parametrize(
        ("raw", "start", "cron"),
        [
            ({"frequency": "HOURLY"}, datetime(2026, 12, 1, 9, 15, tzinfo=NY), "15 * * * *"),
            ({"frequency": "YEARLY"}, datetime(2026, 12, 24, 18, 0, tzinfo=NY), "0 18 24 12 *"),
            (
                {"frequency": "MONTHLY", "by_weekday": ["-1FR"]},
                datetime(2026, 12, 1, 9, 0, tzinfo=NY),
                "0 9 * * 5",
            ),
            # Cron would fire on the 13th or on Fridays; the rule keeps both at once.
            (
                {"frequency": "MONTHLY", "by_month_day": [13], "by_weekday": ["FR"]},
                datetime(2026, 12, 1, 9, 0, tzinfo=NY),
                "0 9 * * 5",
            ),
            (
                {"frequency": "DAILY", "by_month": [6, 7], "by_weekday": ["MO", "FR"]},
                datetime(2026, 12, 1, 9, 0, tzinfo=NY),
                "0 9 * 6,7 1,5",
            ),
            (
                {"frequency": "YEARLY", "by_month": [3, 9], "by_month_day": [-1]},
                datetime(2026, 12, 1, 9, 0, tzinfo=NY),
                "0 9 * 3,9 *",
            ),
        ],
    )
    def test_the_crontab_is_the_widest_pattern_the_rule_needs(self, raw, start, cron) -> None:
        assert rule(raw, start).to_cron().expression == cron


class TestDailyAcrossDst:
    # New York 2026: clocks spring forward 2026-03-08 02:00 EST → 03:00 EDT
    # (07:00 UTC) and fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00 UTC).

    def test_1_spring_a_time_in_the_gap_fires_once_just_after_it(self) -> None:
        assert fires({"frequency": "DAILY"}, datetime(2026, 3, 7, 2, 30, tzinfo=NY), 3) == [
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
        ]

    def test_1_autumn_a_repeated_time_fires_once_at_its_first_occurrence(self) -> None:
        assert fires({"frequency": "DAILY"}, datetime(2026, 10, 31, 1, 30, tzinfo=NY), 3) == [
            "2026-10-31T01:30:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-02T01:30:00-05:00",
        ]

    def test_3_spring_an_hourly_pattern_fires_every_real_hour(self) -> None:
        hourly = CronPattern("0", "*", "*", "*", "*")
        fires = iter_fires(hourly, "America/New_York", after=datetime(2026, 3, 8, 0, 30, tzinfo=NY))
        assert [f.astimezone(NY).isoformat() for f in itertools.islice(fires, 3)] == [
            "2026-03-08T01:00:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T04:00:00-04:00",
        ]

    def test_3_autumn_an_hourly_pattern_fires_in_both_repeated_hours(self) -> None:
        # Restarted from each firing, as beat does: the second 01:00 must not repeat.
        hourly = CronPattern("0", "*", "*", "*", "*")
        fires = iter_fires(
            hourly, "America/New_York", after=datetime(2026, 11, 1, 0, 30, tzinfo=NY)
        )
        assert [f.astimezone(NY).isoformat() for f in itertools.islice(fires, 4)] == [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ]

    # Sydney 2026: back 2026-04-05 03:00 AEDT → 02:00 AEST; forward 2026-10-04
    # 02:00 AEST → 03:00 AEDT.
    def test_2_spring_sydney_gap(self) -> None:
        start = datetime(2026, 10, 3, 2, 30, tzinfo=SYDNEY)
        assert fires({"frequency": "DAILY"}, start, 2, "Australia/Sydney") == [
            "2026-10-03T02:30:00+10:00",
            "2026-10-04T03:00:00+11:00",
        ]

    def test_2_autumn_sydney_repeat(self) -> None:
        start = datetime(2026, 4, 4, 2, 30, tzinfo=SYDNEY)
        assert fires({"frequency": "DAILY"}, start, 3, "Australia/Sydney") == [
            "2026-04-04T02:30:00+11:00",
            "2026-04-05T02:30:00+11:00",
            "2026-04-06T02:30:00+10:00",
        ]


class TestDocumentedExamples:
    """The table in docs/time.md, case by case (daily rules)."""

    @pytest.mark.parametrize(
        ("zone", "wall", "day", "expected"),
        [
            # Lord Howe shifts by 30 minutes: 02:00 → 02:30 on 2026-10-04 (15:30 UTC).
            (
                "Australia/Lord_Howe",
                (2, 15),
                "2026-10-04",
                ["2026-10-03T02:15:00+10:30", "2026-10-04T02:30:00+11:00"],
            ),
            # ...and back 02:00 → 01:30 on 2026-04-05 (15:00 UTC): 01:45 happens twice.
            (
                "Australia/Lord_Howe",
                (1, 45),
                "2026-04-05",
                ["2026-04-04T01:45:00+11:00", "2026-04-05T01:45:00+11:00"],
            ),
            # Santiago springs forward at midnight: 00:00 → 01:00 on 2026-09-06 (04:00 UTC).
            (
                "America/Santiago",
                (0, 30),
                "2026-09-06",
                ["2026-09-05T00:30:00-04:00", "2026-09-06T01:00:00-03:00"],
            ),
            # ...and falls back at midnight: 24:00 → 23:00 on 2026-04-04 (03:00 UTC).
            (
                "America/Santiago",
                (23, 30),
                "2026-04-04",
                ["2026-04-03T23:30:00-03:00", "2026-04-04T23:30:00-03:00"],
            ),
            # Beirut springs forward at midnight: 00:00 → 01:00 on 2026-03-29 (22:00 UTC).
            (
                "Asia/Beirut",
                (0, 30),
                "2026-03-29",
                ["2026-03-28T00:30:00+02:00", "2026-03-29T01:00:00+03:00"],
            ),
            # Nuuk's gap spans midnight: 23:00 → 00:00 on 2026-03-28/29 (01:00 UTC); the
            # firing for the 28th comes just after the gap, on the 29th.
            (
                "America/Nuuk",
                (23, 0),
                "2026-03-28",
                ["2026-03-27T23:00:00-02:00", "2026-03-29T00:00:00-01:00"],
            ),
            # Apia skipped 30 December 2011 entirely (-10:00 → +14:00 at 10:00 UTC):
            # the skipped date's firing comes just after the gap.
            (
                "Pacific/Apia",
                (9, 0),
                "2011-12-30",
                [
                    "2011-12-29T09:00:00-10:00",
                    "2011-12-31T00:00:00+14:00",
                    "2011-12-31T09:00:00+14:00",
                ],
            ),
            # London: 01:00 → 02:00 on 2026-03-29 (01:00 UTC).
            (
                "Europe/London",
                (1, 30),
                "2026-03-29",
                ["2026-03-28T01:30:00+00:00", "2026-03-29T02:00:00+01:00"],
            ),
            # ...and 02:00 → 01:00 on 2026-10-25 (01:00 UTC): 01:30 happens twice.
            (
                "Europe/London",
                (1, 30),
                "2026-10-25",
                ["2026-10-24T01:30:00+01:00", "2026-10-25T01:30:00+01:00"],
            ),
        ],
    )
    def test_case(self, zone: str, wall: tuple[int, int], day: str, expected: list[str]) -> None:
        tz = ZoneInfo(zone)
        pattern = CronPattern(str(wall[1]), str(wall[0]), "*", "*", "*")
        # From the day before the transition day (`day`), whose firing is expected[0].
        after = datetime.fromisoformat(expected[0]) - timedelta(minutes=1)
        assert (after + timedelta(days=1, minutes=1)).date().isoformat() == day
        fires = iter_fires(pattern, zone, after=after)
        local = [f.astimezone(tz).isoformat() for f in itertools.islice(fires, len(expected))]
        assert local == expected


class TestLimits:
    def test_interval_keeps_the_phase_of_the_start(self) -> None:
        start = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
        assert fires({"frequency": "DAILY", "interval": 3}, start, 3) == [
            "2026-12-01T09:00:00-05:00",
            "2026-12-04T09:00:00-05:00",
            "2026-12-07T09:00:00-05:00",
        ]

    def test_count_stops_after_that_many_firings(self) -> None:
        start = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
        assert len(fires({"frequency": "DAILY", "count": 2}, start, 10)) == 2

    def test_until_is_inclusive(self) -> None:
        start = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
        raw = {"frequency": "DAILY", "until": "2026-12-03T09:00:00-05:00"}
        assert fires(raw, start, 10)[-1] == "2026-12-03T09:00:00-05:00"

    def test_last_day_of_month(self) -> None:
        start = datetime(2027, 1, 15, 18, 0, tzinfo=SYDNEY)
        raw = {"frequency": "MONTHLY", "by_month_day": [-1]}
        assert fires(raw, start, 3, "Australia/Sydney") == [
            "2027-01-31T18:00:00+11:00",
            "2027-02-28T18:00:00+11:00",
            "2027-03-31T18:00:00+11:00",
        ]

    def test_negative_days_count_from_the_end_and_mix_with_positive_ones(self) -> None:
        start = datetime(2027, 2, 1, 9, 0, tzinfo=NY)
        raw = {"frequency": "MONTHLY", "by_month_day": [1, -2]}
        assert fires(raw, start, 4) == [
            "2027-02-01T09:00:00-05:00",
            "2027-02-27T09:00:00-05:00",
            "2027-03-01T09:00:00-05:00",
            "2027-03-30T09:00:00-04:00",
        ]

    def test_months_without_the_day_are_skipped(self) -> None:
        start = datetime(2027, 1, 31, 9, 0, tzinfo=NY)
        assert fires({"frequency": "MONTHLY"}, start, 2) == [
            "2027-01-31T09:00:00-05:00",
            "2027-03-31T09:00:00-04:00",
        ]

    def test_the_first_firing_is_never_before_the_start(self) -> None:
        start = datetime(2026, 12, 1, 9, 0, tzinfo=NY)
        r = rule({"frequency": "DAILY"}, start)
        first = next_fire(r.to_cron(), r.timezone, after=datetime(2020, 1, 1, tzinfo=UTC), rule=r)
        assert first == start


def test_a_pattern_that_can_never_match_is_an_error() -> None:
    never = CronPattern("0", "9", "30", "2", "*")  # 30 February
    with pytest.raises(RecurrenceError, match="day-of-month"):
        next_fire(never, "UTC", after=datetime(2026, 1, 1, tzinfo=UTC))


PARIS = ZoneInfo("Europe/Paris")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


class TestHourlyAcrossDst:
    """HOURLY counts hourly firings from the start: every N real hours."""

    # New York: 2027-03-14 02:00 EST → 03:00 EDT (07:00 UTC);
    # 2026-11-01 02:00 EDT → 01:00 EST (06:00 UTC).
    def test_1_spring_the_skipped_hour_is_not_invented(self) -> None:
        start = datetime(2027, 3, 14, 0, 30, tzinfo=NY)
        assert fires({"frequency": "HOURLY"}, start, 4) == [
            "2027-03-14T00:30:00-05:00",
            "2027-03-14T01:30:00-05:00",
            "2027-03-14T03:30:00-04:00",
            "2027-03-14T04:30:00-04:00",
        ]

    def test_1_autumn_the_repeated_hour_fires_twice(self) -> None:
        start = datetime(2026, 11, 1, 0, 30, tzinfo=NY)
        assert fires({"frequency": "HOURLY"}, start, 4) == [
            "2026-11-01T00:30:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T02:30:00-05:00",
        ]

    def test_2_spring_every_two_hours_stays_two_real_hours_apart(self) -> None:
        start = datetime(2027, 3, 14, 0, 0, tzinfo=NY)
        assert fires({"frequency": "HOURLY", "interval": 2}, start, 3) == [
            "2027-03-14T00:00:00-05:00",
            "2027-03-14T03:00:00-04:00",
            "2027-03-14T05:00:00-04:00",
        ]

    def test_2_autumn_every_two_hours_stays_two_real_hours_apart(self) -> None:
        # The wall-clock hours move from even to odd: 00:00, 01:00 (again), 03:00.
        start = datetime(2026, 11, 1, 0, 0, tzinfo=NY)
        assert fires({"frequency": "HOURLY", "interval": 2}, start, 3) == [
            "2026-11-01T00:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T03:00:00-05:00",
        ]

    # Paris: 2027-03-28 02:00 CET → 03:00 CEST (01:00 UTC);
    # 2026-10-25 03:00 CEST → 02:00 CET (01:00 UTC).
    def test_3_spring_paris(self) -> None:
        start = datetime(2027, 3, 28, 1, 45, tzinfo=PARIS)
        assert fires({"frequency": "HOURLY", "interval": 3}, start, 3, "Europe/Paris") == [
            "2027-03-28T01:45:00+01:00",
            "2027-03-28T05:45:00+02:00",
            "2027-03-28T08:45:00+02:00",
        ]

    def test_3_autumn_paris(self) -> None:
        start = datetime(2026, 10, 25, 1, 45, tzinfo=PARIS)
        assert fires({"frequency": "HOURLY", "interval": 3}, start, 3, "Europe/Paris") == [
            "2026-10-25T01:45:00+02:00",
            "2026-10-25T03:45:00+01:00",
            "2026-10-25T06:45:00+01:00",
        ]

    # Lord Howe shifts by 30 minutes: 2026-10-04 02:00 → 02:30 (+10:30 → +11:00,
    # 15:30 UTC) and 2026-04-05 02:00 → 01:30 (+11:00 → +10:30, 15:00 UTC). The
    # local minute holds, so the firing across the shift comes half an hour early
    # or late; the interval still counts firings.
    def test_4_spring_lord_howe(self) -> None:
        start = datetime(2026, 10, 4, 0, 0, tzinfo=LORD_HOWE)
        assert fires({"frequency": "HOURLY", "interval": 2}, start, 3, "Australia/Lord_Howe") == [
            "2026-10-04T00:00:00+10:30",
            "2026-10-04T03:00:00+11:00",  # 2.5 real hours later
            "2026-10-04T05:00:00+11:00",
        ]

    def test_4_autumn_lord_howe(self) -> None:
        start = datetime(2026, 4, 5, 0, 0, tzinfo=LORD_HOWE)
        assert fires({"frequency": "HOURLY", "interval": 2}, start, 3, "Australia/Lord_Howe") == [
            "2026-04-05T00:00:00+11:00",
            "2026-04-05T02:00:00+10:30",  # 2.5 real hours later
            "2026-04-05T04:00:00+10:30",
        ]


class TestPositionsMonthsAndYears:
    def test_the_last_friday_of_each_month_across_spring_forward(self) -> None:
        # New York springs forward on 2027-03-14; the last Friday of March is after it.
        start = datetime(2027, 1, 1, 9, 0, tzinfo=NY)
        assert fires({"frequency": "MONTHLY", "by_weekday": ["-1FR"]}, start, 4) == [
            "2027-01-29T09:00:00-05:00",
            "2027-02-26T09:00:00-05:00",
            "2027-03-26T09:00:00-04:00",
            "2027-04-30T09:00:00-04:00",
        ]

    def test_1_spring_the_last_sunday_of_march_in_paris_is_the_change_itself(self) -> None:
        # 02:30 does not exist on 2027-03-28: the firing is at the gap's end.
        start = datetime(2026, 1, 1, 2, 30, tzinfo=PARIS)
        raw = {"frequency": "YEARLY", "by_month": [3], "by_weekday": ["-1SU"]}
        assert fires(raw, start, 2, "Europe/Paris") == [
            "2026-03-29T03:00:00+02:00",
            "2027-03-28T03:00:00+02:00",
        ]

    def test_1_autumn_the_last_sunday_of_october_in_paris_fires_once(self) -> None:
        # 02:30 happens twice on 2026-10-25 (and 2027-10-31): the first (+02:00) fires.
        start = datetime(2026, 1, 1, 2, 30, tzinfo=PARIS)
        raw = {"frequency": "YEARLY", "by_month": [10], "by_weekday": ["-1SU"]}
        assert fires(raw, start, 2, "Europe/Paris") == [
            "2026-10-25T02:30:00+02:00",
            "2027-10-31T02:30:00+02:00",
        ]

    def test_the_second_monday_in_chosen_months(self) -> None:
        start = datetime(2027, 1, 1, 8, 0, tzinfo=NY)
        raw = {"frequency": "MONTHLY", "by_month": [3, 11], "by_weekday": ["2MO"]}
        assert fires(raw, start, 3) == [
            "2027-03-08T08:00:00-05:00",
            "2027-11-08T08:00:00-05:00",
            "2028-03-13T08:00:00-04:00",
        ]

    def test_friday_the_13th_needs_both_the_day_and_the_weekday(self) -> None:
        start = datetime(2026, 1, 1, 12, 0, tzinfo=NY)
        raw = {"frequency": "MONTHLY", "by_month_day": [13], "by_weekday": ["FR"]}
        assert fires(raw, start, 3) == [
            "2026-02-13T12:00:00-05:00",
            "2026-03-13T12:00:00-04:00",
            "2026-11-13T12:00:00-05:00",
        ]

    def test_yearly_from_29_february_fires_in_leap_years_in_phase(self) -> None:
        start = datetime(2028, 2, 29, 12, 0, tzinfo=NY)
        assert fires({"frequency": "YEARLY", "interval": 2}, start, 3) == [
            "2028-02-29T12:00:00-05:00",
            "2032-02-29T12:00:00-05:00",
            "2036-02-29T12:00:00-05:00",
        ]

    def test_daily_in_some_months_only(self) -> None:
        start = datetime(2027, 3, 30, 9, 0, tzinfo=PARIS)
        raw = {"frequency": "DAILY", "by_month": [3, 5]}
        assert fires(raw, start, 4, "Europe/Paris") == [
            "2027-03-30T09:00:00+02:00",
            "2027-03-31T09:00:00+02:00",
            "2027-05-01T09:00:00+02:00",
            "2027-05-02T09:00:00+02:00",
        ]


class TestExclude:
    """Excluded dates are local dates in the rule's zone."""

    def test_1_spring_excluding_the_change_day_drops_its_gap_firing(self) -> None:
        start = datetime(2027, 3, 13, 2, 30, tzinfo=NY)
        raw = {"frequency": "DAILY", "exclude": ["2027-03-14"]}
        assert fires(raw, start, 2) == ["2027-03-13T02:30:00-05:00", "2027-03-15T02:30:00-04:00"]

    def test_1_autumn_excluding_the_change_day_drops_both_repeated_hours(self) -> None:
        start = datetime(2026, 10, 31, 23, 0, tzinfo=NY)
        raw = {"frequency": "HOURLY", "exclude": ["2026-11-01"]}
        assert fires(raw, start, 3) == [
            "2026-10-31T23:00:00-04:00",
            "2026-11-02T00:00:00-05:00",
            "2026-11-02T01:00:00-05:00",
        ]

    def test_a_date_is_the_rules_zones_not_utcs(self) -> None:
        # 20:00 in New York on 2026-12-24 is already the 25th in UTC.
        start = datetime(2026, 12, 23, 20, 0, tzinfo=NY)
        raw = {"frequency": "DAILY", "exclude": ["2026-12-24"]}
        assert fires(raw, start, 2) == ["2026-12-23T20:00:00-05:00", "2026-12-25T20:00:00-05:00"]

    def test_a_firing_pushed_past_midnight_by_a_gap_keeps_its_date(self) -> None:
        # America/Nuuk: 2026-03-28 23:00 → 03-29 00:00 (-02:00 → -01:00, 01:00 UTC).
        # The 28th's 23:00 firing would come at 00:00 on the 29th.
        nuuk = ZoneInfo("America/Nuuk")
        start = datetime(2026, 3, 27, 23, 0, tzinfo=nuuk)
        raw = {"frequency": "DAILY", "exclude": ["2026-03-28"]}
        assert fires(raw, start, 2, "America/Nuuk") == [
            "2026-03-27T23:00:00-02:00",
            "2026-03-29T23:00:00-01:00",
        ]

    def test_excluded_dates_do_not_use_up_the_count(self) -> None:
        start = datetime(2026, 12, 24, 9, 0, tzinfo=NY)
        raw = {"frequency": "DAILY", "count": 2, "exclude": ["2026-12-25"]}
        assert fires(raw, start, 5) == ["2026-12-24T09:00:00-05:00", "2026-12-26T09:00:00-05:00"]

    def test_a_long_exclusion_of_an_hourly_rule_is_skipped_not_scanned(self) -> None:
        start = datetime(2026, 12, 1, 0, 0, tzinfo=NY)
        days = [(start + timedelta(days=d)).date().isoformat() for d in range(1000)]
        got = fires({"frequency": "HOURLY", "exclude": days}, start, 1)
        assert got == ["2029-08-27T00:00:00-04:00"]
