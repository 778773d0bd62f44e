"""Recurrence rules and next-fire computation: pure, no Django, no clock.

A recurring event is a cron pattern (the calendar: minute, hour, days,
months) in an IANA zone, plus limits a cron pattern cannot say (interval
phase, "last day of the month", "the last Friday", days of the month and of
the week together, excluded dates, count, until). The pattern is what
django-celery-beat's ``CrontabSchedule`` stores, so an admin who edits it
changes when the event fires; the limits live in the event's ``recurrence``
and filter the pattern's matches, which is therefore always a superset.

Wall-clock evaluation is delegated to cronsim, whose DST semantics are
documented and tested upstream:

- a local time that does not exist (spring forward) fires once, at the first
  instant after the gap (02:30 New York on 2026-03-08 fires at 03:00 EDT);
- a local time that happens twice (fall back) fires once, at its first
  occurrence (01:30 New York on 2026-11-01 fires at 01:30 EDT);
- an hourly pattern fires on every real hour, the repeated hour included;
  an HOURLY rule with an interval counts real (elapsed) hours from its start.

Every function takes the instant to start from; none reads the clock.
"""

from __future__ import annotations

import calendar
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError

from scheduling.timecheck import TimeValueError, parse_instant, shown, to_utc, zone_error

FREQUENCIES = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# iCalendar weekday codes → cron day-of-week numbers (0 = Sunday).
WEEKDAYS = {"SU": 0, "MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6}
# RFC 5545's BYDAY form: a code, optionally after its position in the month
# ("2MO" the second Monday, "-1FR" the last Friday). Positions count within
# the month only, also for YEARLY (RFC 5545 would count "20MO" in the year).
WEEKDAY_PATTERN = re.compile(r"([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)")
RECURRENCE_KEYS = frozenset(
    {
        "frequency",
        "interval",
        "by_month_day",
        "by_weekday",
        "by_month",
        "exclude",
        "count",
        "until",
        "timezone",
    }
)
MAX_COUNT = 10_000
MAX_EXCLUDE = 1_000
_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A pattern that matches nothing (30 February, an admin typo) must not spin.
_MAX_CANDIDATES = 5_000


class RecurrenceError(ValueError):
    """A malformed recurrence; ``errors`` maps each bad field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True)
class CronPattern:
    """The calendar part of a rule, in the field order of ``CrontabSchedule``."""

    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str

    @property
    def expression(self) -> str:
        return " ".join(
            (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        )


@dataclass(frozen=True)
class Rule:
    """A validated recurrence. ``start`` is the first instant it may fire (UTC).

    ``by_weekday`` holds normalised codes ("MO", "2MO", "-1FR"); ``exclude``
    local dates in ``timezone`` on which the rule does not fire.
    """

    frequency: str
    interval: int
    by_month_day: tuple[int, ...]
    by_weekday: tuple[str, ...]
    count: int | None
    until: datetime | None
    timezone: str
    start: datetime
    by_month: tuple[int, ...] = ()
    exclude: frozenset[date] = frozenset()

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(zoneinfo.ZoneInfo(self.timezone))

    @property
    def has_positions(self) -> bool:
        return any(_split_weekday(code)[0] is not None for code in self.by_weekday)

    def to_cron(self) -> CronPattern:
        """The crontab: every match the rule may fire at, and more if it cannot say less."""
        local = self.local_start
        hour = "*" if self.frequency == "HOURLY" else str(local.hour)
        months = self.by_month or ((local.month,) if self.frequency == "YEARLY" else ())
        month_of_year = ",".join(str(m) for m in months) if months else "*"
        day_of_month, day_of_week = self._cron_days(local)
        return CronPattern(str(local.minute), hour, day_of_month, month_of_year, day_of_week)

    def _cron_days(self, local: datetime) -> tuple[str, str]:
        weekdays = self.by_weekday
        if self.frequency == "WEEKLY" and not weekdays:
            weekdays = (_cron_weekday(local.date()),)
        if weekdays:
            # Cron fires on either restricted field, days of the month or of
            # the week; a rule with both means both (Friday the 13th), so only
            # the weekdays go into the crontab and the rule keeps its days.
            # A position (the last Friday) widens to every such weekday.
            codes = dict.fromkeys(WEEKDAYS[_split_weekday(w)[1]] for w in weekdays)
            return "*", ",".join(str(c) for c in codes)
        days = self.by_month_day
        if not days and self.frequency in ("MONTHLY", "YEARLY"):
            days = (local.day,)
        return (_cron_month_days(days) if days else "*"), "*"

    def as_dict(self) -> dict[str, Any]:
        """The normalised JSON form stored on the event."""
        stored: dict[str, Any] = {
            "frequency": self.frequency,
            "interval": self.interval,
            "by_month_day": list(self.by_month_day),
            "by_weekday": list(self.by_weekday),
            "count": self.count,
            "until": self.until.isoformat() if self.until else None,
            "timezone": self.timezone,
        }
        # Written only when set: an event stored before these fields existed
        # keeps its exact JSON, which an idempotent replay is compared with.
        if self.by_month:
            stored["by_month"] = list(self.by_month)
        if self.exclude:
            stored["exclude"] = [day.isoformat() for day in sorted(self.exclude)]
        return stored


def _split_weekday(code: str) -> tuple[int | None, str]:
    """A normalised weekday code as (position in the month or None, two-letter code)."""
    return (int(code[:-2]) if len(code) > 2 else None), code[-2:]


def _cron_weekday(day: date) -> str:
    return next(code for code, num in WEEKDAYS.items() if num == (day.isoweekday() % 7))


def _cron_month_days(days: tuple[int, ...]) -> str:
    # Cron cannot count from the end of the month: negative days widen the
    # pattern to every day and the rule keeps only the days it asked for.
    if any(d < 0 for d in days):
        return "*"
    return ",".join(str(d) for d in sorted(set(days)))


def _days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _month_day_matches(days: tuple[int, ...], day: date) -> bool:
    return day.day in days or day.day - _days_in_month(day) - 1 in days


def _weekday_matches(code: str, day: date) -> bool:
    position, name = _split_weekday(code)
    if WEEKDAYS[name] != day.isoweekday() % 7:
        return False
    if position is None:
        return True
    if position > 0:
        return (day.day - 1) // 7 + 1 == position
    return (_days_in_month(day) - day.day) // 7 + 1 == -position


# --- Parsing -----------------------------------------------------------------


def parse_recurrence(raw: object, *, start: datetime, default_timezone: str) -> Rule:
    """Validate a recurrence dict (the original client's shape) into a Rule.

    ``start`` is the event's aware ``scheduled_time``; its wall-clock time in
    the rule's zone is the time of day the rule fires. Raise RecurrenceError
    naming every bad field.
    """
    if not isinstance(raw, Mapping):
        raise RecurrenceError({"recurrence": "must be an object"})
    errors: dict[str, str] = {}
    unknown = sorted(shown(key) for key in set(raw) - RECURRENCE_KEYS)
    if unknown:
        errors["recurrence"] = f"unknown keys: {', '.join(unknown)}"
    # An optional field given as None (JSON null) is absent.
    frequency = _parse_frequency(raw.get("frequency"), errors)
    interval = raw.get("interval")
    interval = _parse_positive_int(
        1 if interval is None else interval, "interval", errors, maximum=1000
    )
    month_days = _parse_month_days(raw.get("by_month_day"), frequency, errors)
    weekdays = _parse_weekdays(raw.get("by_weekday"), frequency, errors)
    months = _parse_months(raw.get("by_month"), errors)
    exclude = _parse_exclude(raw.get("exclude"), errors)
    count = _parse_count(raw.get("count"), errors)
    tz = raw.get("timezone")
    tz = default_timezone if tz is None else tz
    wrong_zone = zone_error(tz)
    if wrong_zone:
        errors["recurrence.timezone"] = wrong_zone
    until = _parse_until(raw.get("until"), start, errors)
    if count is not None and until is not None:
        errors["recurrence.count"] = "give either count or until, not both"
    if errors:
        raise RecurrenceError(errors)
    rule = Rule(frequency, interval, month_days, weekdays, count, until, tz, start, months, exclude)
    _check_days_exist(rule)
    return rule


def _parse_frequency(value: object, errors: dict[str, str]) -> str:
    if value not in FREQUENCIES:
        errors["recurrence.frequency"] = f"must be one of {', '.join(FREQUENCIES)}"
        return ""
    return str(value)


def _parse_positive_int(value: object, field: str, errors: dict[str, str], *, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        errors[f"recurrence.{field}"] = f"must be an integer from 1 to {maximum}"
        return 1
    return value


def _parse_count(value: object, errors: dict[str, str]) -> int | None:
    if value is None:
        return None
    return _parse_positive_int(value, "count", errors, maximum=MAX_COUNT)


def _is_int_list(value: object, high: int, *, signed: bool) -> bool:
    """Whether ``value`` is a list of integers from 1 to ``high`` (or -1 to -``high``)."""
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= (abs(v) if signed else v) <= high
        for v in value
    )


def _parse_month_days(value: object, frequency: str, errors: dict[str, str]) -> tuple[int, ...]:
    if value in (None, []):
        return ()
    field = "recurrence.by_month_day"
    if frequency not in ("MONTHLY", "YEARLY"):
        errors[field] = "only allowed with frequency MONTHLY or YEARLY"
        return ()
    if not _is_int_list(value, 31, signed=True):
        errors[field] = (
            "must be a list of days: 1 to 31, or -1 (last day) to -31 counted from the end"
        )
        return ()
    assert isinstance(value, list)
    return tuple(sorted(set(value)))


def _parse_months(value: object, errors: dict[str, str]) -> tuple[int, ...]:
    if value in (None, []):
        return ()
    if not _is_int_list(value, 12, signed=False):
        errors["recurrence.by_month"] = "must be a list of months: 1 (January) to 12 (December)"
        return ()
    assert isinstance(value, list)
    return tuple(sorted(set(value)))


def _parse_weekdays(value: object, frequency: str, errors: dict[str, str]) -> tuple[str, ...]:
    if value in (None, []):
        return ()
    field = "recurrence.by_weekday"
    matches = (
        [WEEKDAY_PATTERN.fullmatch(v) if isinstance(v, str) else None for v in value]
        if isinstance(value, list)
        else [None]
    )
    if not all(matches):
        errors[field] = (
            f"must be a list of weekday codes ({', '.join(WEEKDAYS)}), each optionally "
            "after its position in the month: 1 to 5, or -1 (the last) to -5; "
            "2MO is the second Monday, -1FR the last Friday"
        )
        return ()
    codes = [f"{int(m[1])}{m[2]}" if m[1] else m[2] for m in matches if m]
    if frequency not in ("MONTHLY", "YEARLY") and any(len(c) > 2 for c in codes):
        errors[field] = (
            "a position in the month (such as -1FR, the last Friday) needs frequency "
            "MONTHLY or YEARLY"
        )
        return ()
    return tuple(sorted(set(codes), key=_weekday_order))


def _weekday_order(code: str) -> tuple[int, int]:
    position, name = _split_weekday(code)
    return (WEEKDAYS[name] - 1) % 7, 0 if position is None else position


def _parse_exclude(value: object, errors: dict[str, str]) -> frozenset[date]:
    if value in (None, []):
        return frozenset()
    field = "recurrence.exclude"
    if not isinstance(value, list) or len(value) > MAX_EXCLUDE:
        errors[field] = f"must be a list of at most {MAX_EXCLUDE} dates (YYYY-MM-DD)"
        return frozenset()
    days = set()
    for item in value:
        day = _local_date(item)
        if day is None:
            errors[field] = (
                "must be a list of dates written YYYY-MM-DD, local dates in the rule's "
                f"timezone (not instants): {shown(item)} is not one"
            )
            return frozenset()
        days.add(day)
    return frozenset(days)


def _local_date(value: object) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_PATTERN.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # 2027-02-30
        return None


def _parse_until(value: object, start: datetime, errors: dict[str, str]) -> datetime | None:
    if value is None:
        return None
    try:
        until = to_utc(parse_instant(value) if isinstance(value, str) else value)
    except TimeValueError as exc:
        errors["recurrence.until"] = str(exc)
        return None
    if until < start:
        errors["recurrence.until"] = "must not be before scheduled_time"
        return None
    return until


def _check_days_exist(rule: Rule) -> None:
    """Refuse days that no month of the rule has (30 in February): cron cannot match them."""
    pattern = rule.to_cron()
    if pattern.day_of_month == "*" or pattern.month_of_year == "*":
        return
    days = [int(d) for d in pattern.day_of_month.split(",")]
    months = [int(m) for m in pattern.month_of_year.split(",")]
    if any(d <= calendar.monthrange(2000, m)[1] for d in days for m in months):
        return  # (2000 is a leap year: 29 February counts)
    if rule.by_month_day:
        field, message = "by_month_day", "no month in by_month has any of these days"
    else:
        field, message = (
            "by_month",
            f"none of these months has day {rule.local_start.day}, the day of "
            "scheduled_time; give by_month_day",
        )
    raise RecurrenceError({f"recurrence.{field}": message})


# --- Evaluation ---------------------------------------------------------------


def _candidates(pattern: CronPattern, tz: str, after: datetime) -> Iterator[datetime]:
    """Cron matches strictly after ``after``, as aware UTC instants."""
    # From the timestamp: a plain datetime with the right ``fold`` even when
    # ``after`` is a subclass that loses it (freezegun's FakeDatetime does).
    local_after = datetime.fromtimestamp(after.timestamp(), zoneinfo.ZoneInfo(tz))
    try:
        matches = CronSim(pattern.expression, local_after)
    except CronSimError as exc:
        raise RecurrenceError({"crontab": str(exc)}) from None
    for _, match in zip(range(_MAX_CANDIDATES), matches, strict=False):
        instant = match.astimezone(UTC)
        # Started inside a repeated hour (fold=1), cronsim may yield the
        # start itself again: keep the order strictly increasing.
        if instant > after:
            yield instant


def nominal_date(rule: Rule, local: datetime) -> date:
    """The local date a firing at ``local`` (aware, in the rule's zone) stands for.

    Its own date, but for a wall time skipped by a gap that spans midnight
    (America/Nuuk, 23:00 on 2026-03-28): that firing comes just after the
    gap, on the next date, and stands for the skipped one.
    """
    if rule.frequency == "HOURLY":
        return local.date()  # an hourly pattern skips what a gap removes
    wall = rule.local_start.time().replace(second=0, microsecond=0)
    if local.time().replace(second=0, microsecond=0) == wall:
        return local.date()
    just_before = datetime.fromtimestamp(local.timestamp() - 1e-6, local.tzinfo)
    previous = local.date() - timedelta(days=1)
    skipped = datetime.combine(previous, wall)
    if just_before.date() == previous and not _wall_time_exists(skipped, local.tzinfo):
        return previous
    return local.date()


def _wall_time_exists(naive: datetime, zone: Any) -> bool:
    there_and_back = naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return there_and_back.replace(tzinfo=None) == naive


def _in_phase(rule: Rule, day: date) -> bool:
    """Whether a date belongs to the rule's interval, counted from its start date."""
    if rule.interval == 1:
        return True
    start = rule.local_start.date()
    if rule.frequency == "DAILY":
        return (day - start).days % rule.interval == 0
    if rule.frequency == "WEEKLY":
        monday = start - timedelta(days=start.weekday())
        return ((day - monday).days // 7) % rule.interval == 0
    if rule.frequency == "YEARLY":
        return (day.year - start.year) % rule.interval == 0
    months = (day.year - start.year) * 12 + (day.month - start.month)
    return months % rule.interval == 0


def _day_matches(rule: Rule, day: date) -> bool:
    """The limits on the day that the crontab leaves to the rule (see ``Rule.to_cron``)."""
    days = rule.by_month_day
    limited = days and (rule.by_weekday or any(d < 0 for d in days))
    if limited and not _month_day_matches(days, day):
        return False
    if rule.has_positions:
        return any(_weekday_matches(code, day) for code in rule.by_weekday)
    return True


def _hours_from_start(rule: Rule, instant: datetime) -> int:
    """How many hourly matches after the start ``instant`` is (the start is 0).

    Elapsed hours, rounded to the nearest, halves down: the matches are
    whole hours apart but across a shift of less than an hour (Lord Howe's
    30 minutes), where they come 30 or 90 minutes apart, that is half an hour
    early or late. Halves down counts either as the next match, so an
    interval stays every N-th firing there too.
    """
    elapsed = instant - _start_minute(rule)
    return -((timedelta(minutes=30) - elapsed) // timedelta(hours=1))


def _start_minute(rule: Rule) -> datetime:
    # In UTC: adding hours to a zoned datetime would add wall-clock hours.
    return rule.start.astimezone(UTC).replace(second=0, microsecond=0)


def _skip_to(rule: Rule, instant: datetime, day: date) -> datetime | None:
    """Where to search from instead, when ``instant`` does not fire; None if it fires.

    ``instant`` itself when the next match may fire; later when many matches
    in a row cannot (an hourly rule on an excluded date, or out of phase),
    so that a long exclusion or interval costs no more than a short one.
    """
    if day in rule.exclude:
        if rule.frequency != "HOURLY":
            return instant
        zone = zoneinfo.ZoneInfo(rule.timezone)
        # Midnight with fold=0: where it is in a gap, that is the gap's end.
        following = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        return max(instant, following.astimezone(UTC) - timedelta(microseconds=1))
    if rule.frequency == "HOURLY":
        hours = _hours_from_start(rule, instant)
        if hours % rule.interval == 0:
            return None if _day_matches(rule, day) else instant
        target = -(-hours // rule.interval) * rule.interval
        # Just before the target's earliest match (see _hours_from_start).
        return _start_minute(rule) + timedelta(hours=target, minutes=-30)
    if _day_matches(rule, day) and _in_phase(rule, day):
        return None
    return instant


def next_fire(
    pattern: CronPattern,
    tz: str,
    *,
    after: datetime,
    rule: Rule | None = None,
    fired: int = 0,
) -> datetime | None:
    """Return the first instant strictly after ``after`` that the rule fires at.

    ``pattern`` and ``tz`` are the calendar (the beat row's crontab); ``rule``,
    when given, adds the limits: never before ``rule.start``, in phase with
    the interval, on the days it asks for, not on an excluded date, at most
    ``rule.count`` firings (``fired`` have happened), never after
    ``rule.until``. Return None when the rule is exhausted or matches nothing.
    """
    if rule is not None:
        if rule.count is not None and fired >= rule.count:
            return None
        # Minute precision: the first firing may be at the start minute itself.
        floor = rule.start.replace(second=0, microsecond=0) - timedelta(microseconds=1)
        after = max(after, floor)
    zone = zoneinfo.ZoneInfo(tz)
    budget = _MAX_CANDIDATES
    while budget > 0:
        resume = None
        for instant in _candidates(pattern, tz, after):
            budget -= 1
            if budget < 0 or (rule is not None and rule.until and instant > rule.until):
                return None
            if rule is None:
                return instant
            skip = _skip_to(rule, instant, nominal_date(rule, instant.astimezone(zone)))
            if skip is None:
                return instant
            if skip > instant:
                resume = skip
                break
        if resume is None:
            return None
        after = resume
    return None


def first_fire(rule: Rule, *, after: datetime) -> datetime | None:
    """The rule's first firing strictly after ``after`` (never before its start), or None.

    None when it never fires again: its limits leave no firing (an ``until``
    before the next match) or its calendar matches nothing (day 31 in Aprils
    only). The calendar is the rule's own, as the event's beat row is made.
    """
    return next_fire(rule.to_cron(), rule.timezone, after=after, rule=rule)


def iter_fires(
    pattern: CronPattern,
    tz: str,
    *,
    after: datetime,
    rule: Rule | None = None,
    fired: int = 0,
) -> Iterator[datetime]:
    """Yield the firings strictly after ``after``, in order, until the rule ends.

    ``fired`` counts the firings that happened before the first one yielded;
    it only matters for ``rule.count``.
    """
    cursor = after
    while True:
        instant = next_fire(pattern, tz, after=cursor, rule=rule, fired=fired)
        if instant is None:
            return
        yield instant
        fired += 1
        cursor = instant
