"""Recurrence rules and next-fire computation: pure, no Django, no clock.

A recurring event is a cron pattern (the calendar: minute, hour, days) in an
IANA zone, plus limits a cron pattern cannot say (interval phase, "last day
of the month", count, until). The pattern is what django-celery-beat's
``CrontabSchedule`` stores, so an admin who edits it changes when the event
fires; the limits live in the event's ``recurrence``.

Wall-clock evaluation is delegated to cronsim, whose DST semantics are
documented and tested upstream:

- a local time that does not exist (spring forward) fires once, at the first
  instant after the gap (02:30 New York on 2026-03-08 fires at 03:00 EDT);
- a local time that happens twice (fall back) fires once, at its first
  occurrence (01:30 New York on 2026-11-01 fires at 01:30 EDT);
- an hourly pattern fires on every real hour, the repeated hour included.

Every function takes the instant to start from; none reads the clock.
"""

from __future__ import annotations

import calendar
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cronsim import CronSim, CronSimError

from scheduling.timecheck import TimeValueError, parse_instant, shown, to_utc, zone_error

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
# iCalendar weekday codes → cron day-of-week numbers (0 = Sunday).
WEEKDAYS = {"SU": 0, "MO": 1, "TU": 2, "WE": 3, "TH": 4, "FR": 5, "SA": 6}
RECURRENCE_KEYS = frozenset(
    {"frequency", "interval", "by_month_day", "by_weekday", "count", "until", "timezone"}
)
MAX_COUNT = 10_000
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
    """A validated recurrence. ``start`` is the first instant it may fire (UTC)."""

    frequency: str
    interval: int
    by_month_day: tuple[int, ...]
    by_weekday: tuple[str, ...]
    count: int | None
    until: datetime | None
    timezone: str
    start: datetime

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(zoneinfo.ZoneInfo(self.timezone))

    def to_cron(self) -> CronPattern:
        local = self.local_start
        day_of_month = "*"
        day_of_week = "*"
        if self.frequency == "WEEKLY":
            days = self.by_weekday or (_cron_weekday(local.date()),)
            day_of_week = ",".join(str(WEEKDAYS[d]) for d in days)
        elif self.frequency == "MONTHLY":
            day_of_month = _cron_month_days(self.by_month_day or (local.day,))
        return CronPattern(str(local.minute), str(local.hour), day_of_month, "*", day_of_week)

    def as_dict(self) -> dict[str, Any]:
        """The normalised JSON form stored on the event."""
        return {
            "frequency": self.frequency,
            "interval": self.interval,
            "by_month_day": list(self.by_month_day),
            "by_weekday": list(self.by_weekday),
            "count": self.count,
            "until": self.until.isoformat() if self.until else None,
            "timezone": self.timezone,
        }


def _cron_weekday(day: date) -> str:
    return next(code for code, num in WEEKDAYS.items() if num == (day.isoweekday() % 7))


def _cron_month_days(days: tuple[int, ...]) -> str:
    # Cron cannot count from the end of the month: negative days widen the
    # pattern to every day and the rule keeps only the days it asked for.
    if any(d < 0 for d in days):
        return "*"
    return ",".join(str(d) for d in sorted(set(days)))


def _month_day_matches(days: tuple[int, ...], local: datetime) -> bool:
    if not days or all(d > 0 for d in days):
        return True  # the crontab already matched the day
    length = calendar.monthrange(local.year, local.month)[1]
    return local.day in days or local.day - length - 1 in days


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
    return Rule(frequency, interval, month_days, weekdays, count, until, tz, start)


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


def _parse_month_days(value: object, frequency: str, errors: dict[str, str]) -> tuple[int, ...]:
    if value in (None, []):
        return ()
    field = "recurrence.by_month_day"
    if frequency != "MONTHLY":
        errors[field] = "only allowed with frequency MONTHLY"
        return ()
    message = "must be a list of days: 1 to 31, or -1 (last day) to -31 counted from the end"
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 1 <= abs(d) <= 31 for d in value
    ):
        errors[field] = message
        return ()
    return tuple(sorted(set(value)))


def _parse_weekdays(value: object, frequency: str, errors: dict[str, str]) -> tuple[str, ...]:
    if value in (None, []):
        return ()
    field = "recurrence.by_weekday"
    if frequency != "WEEKLY":
        errors[field] = "only allowed with frequency WEEKLY"
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v in WEEKDAYS for v in value):
        errors[field] = f"must be a list of weekday codes ({', '.join(WEEKDAYS)})"
        return ()
    return tuple(sorted(set(value), key=lambda d: (WEEKDAYS[d] - 1) % 7))


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


def _in_phase(rule: Rule, local: datetime) -> bool:
    """Whether a cron match belongs to the rule (interval phase, days from the end)."""
    if not _month_day_matches(rule.by_month_day, local):
        return False
    if rule.interval == 1:
        return True
    start = rule.local_start.date()
    day = local.date()
    if rule.frequency == "DAILY":
        return (day - start).days % rule.interval == 0
    if rule.frequency == "WEEKLY":
        monday = start - timedelta(days=start.weekday())
        return ((day - monday).days // 7) % rule.interval == 0
    months = (day.year - start.year) * 12 + (day.month - start.month)
    return months % rule.interval == 0


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
    the interval, at most ``rule.count`` firings (``fired`` have happened),
    never after ``rule.until``. Return None when the rule is exhausted or
    matches nothing.
    """
    if rule is not None:
        if rule.count is not None and fired >= rule.count:
            return None
        # Minute precision: the first firing may be at the start minute itself.
        floor = rule.start.replace(second=0, microsecond=0) - timedelta(microseconds=1)
        after = max(after, floor)
    zone = zoneinfo.ZoneInfo(tz)
    for instant in _candidates(pattern, tz, after):
        if rule is not None and rule.until is not None and instant > rule.until:
            return None
        if rule is None or _in_phase(rule, instant.astimezone(zone)):
            return instant
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
