"""Which zones and instants the scheduler accepts: pure, no Django, no clock.

The one place these checks live: event validation, the upcoming-events query,
appointments and recurrence parsing all call them, so a zone or an offset
refused by one is refused by all, in the same words. The words are for any
caller, in-process or over HTTP: they name no Python types.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources

# Not places. zoneinfo.available_timezones() lists every zone file it finds,
# so it also returns this machine's own /usr/share/zoneinfo/localtime; some
# systems ship posixrules there too; "Factory" is tzdata's placeholder for a
# machine whose zone is not set (its abbreviation is "-00").
PSEUDO_ZONES = frozenset({"localtime", "posixrules", "Factory"})

# As XML Schema bounds them. Every zone has stayed within -12:00..+14:00
# since 1970, in whole minutes but for Liberia's -00:44:30, which ended in 1972;
# "+23:59:59.999999" is a typo or a fuzzer. (PostgreSQL refuses offsets past
# ±15:59 outright, which is one more reason instants reach queries in UTC.)
MAX_OFFSET = timedelta(hours=14)

EXAMPLE = "2026-12-02T09:00:00-05:00"


class TimeValueError(ValueError):
    """Not an acceptable zone or instant; ``str(error)`` says why, for any caller."""


@functools.cache
def known_timezones() -> frozenset[str]:
    """The IANA zone names the API accepts: the same on every machine."""
    return frozenset(_iana_zone_names() - PSEUDO_ZONES)


def _iana_zone_names() -> set[str]:
    # tzdata's own list (a pinned requirement), which is what zoneinfo reads
    # first; the system's zone files only if the package is missing.
    try:
        listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return set(zoneinfo.available_timezones())
    return set(listed.split())


def is_valid_timezone(name: object) -> bool:
    """Return True if ``name`` is an IANA zone name known to tzdata."""
    return isinstance(name, str) and name in known_timezones()


def zone_error(name: object) -> str | None:
    """Why ``name`` is not an accepted zone, or None if it is one."""
    if is_valid_timezone(name):
        return None
    if not isinstance(name, str):
        return f"must be an IANA timezone name such as 'Europe/Paris', not {shown(name)}"
    return f"unknown IANA timezone: {shown(name)}"


def is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None


def parse_instant(text: str) -> datetime:
    """ISO 8601 text as a datetime (naive if it has no offset); raise TimeValueError.

    Only printable ASCII: ``fromisoformat`` overlooks a NUL after the seconds
    or at the end ("...09:00:00-05:00\\x00" parses).
    """
    message = f"not an ISO 8601 datetime: {shown(text)}"
    if not (text.isascii() and text.isprintable()):
        raise TimeValueError(message)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise TimeValueError(message) from None


def to_utc(
    value: object, *, earliest: datetime | None = None, latest: datetime | None = None
) -> datetime:
    """``value``, an aware datetime, as UTC in ``[earliest, latest)``; raise TimeValueError.

    Its offset must be a whole number of minutes within ±14:00, whatever its
    tzinfo: a fixed offset, a zone, or one parsed from text. Without bounds,
    any instant whose UTC date datetime can hold.
    """
    if not isinstance(value, datetime):
        raise TimeValueError(f"must be a datetime with a UTC offset, e.g. {EXAMPLE}")
    if not is_aware(value):
        raise TimeValueError(f"naive datetime: give a UTC offset or a zone, e.g. {EXAMPLE}")
    _check_offset(value.utcoffset())
    try:
        instant = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-01:00 is in year 10000 in UTC
        instant = None
    if instant is None or (earliest and instant < earliest) or (latest and instant >= latest):
        raise TimeValueError(_range_message(earliest, latest))
    return instant


def _check_offset(offset: timedelta | None) -> None:
    assert offset is not None
    if offset % timedelta(minutes=1):
        raise TimeValueError(f"UTC offset {_offset_text(offset)} is not in whole minutes")
    if abs(offset) > MAX_OFFSET:
        raise TimeValueError(f"UTC offset {_offset_text(offset)} is outside -14:00 to +14:00")


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    minutes, rest = divmod(abs(offset), timedelta(minutes=1))
    text = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    if rest:
        seconds, micros = divmod(rest, timedelta(seconds=1))
        text += f":{seconds:02d}" + (f".{micros.microseconds:06d}" if micros else "")
    return text


def _range_message(earliest: datetime | None, latest: datetime | None) -> str:
    if earliest is None or latest is None:
        return "is out of range: once in UTC it must fall in the years 1 to 9999"
    return f"must be from {earliest:%Y-%m-%d} to before {latest:%Y-%m-%d} (UTC)"


def shown(value: object, limit: int = 64) -> str:
    """``value`` for a message: a string quoted (and cut short), anything else by its kind.

    Never ``repr()`` of a container: a list nested a thousand deep would
    raise RecursionError while the error was being worded.
    """
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    return next((kind for types, kind in _KINDS if isinstance(value, types)), "another value")


_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before int: True is an int
    ((int, float), "a number"),
    ((list, tuple), "a list"),
    (Mapping, "an object"),
    (type(None), "null"),
    (datetime, "a datetime"),
)


def wall_clock_in_zone(local: datetime, zone: str) -> datetime:
    """A naive wall-clock time in IANA ``zone`` as the one instant it names, in UTC.

    Raise TimeValueError when it names none (in the gap when clocks go
    forward) or two (in the hour repeated when they go back): a person
    typing a time must say which they mean, never get one silently.
    """
    tz = zoneinfo.ZoneInfo(zone)
    wall = local.replace(tzinfo=None)
    first, second = wall.replace(tzinfo=tz, fold=0), wall.replace(tzinfo=tz, fold=1)
    when = f"{wall:%Y-%m-%d %H:%M:%S}"
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        raise TimeValueError(
            f"{when} does not exist in {zone}: the clocks skip it when they go forward"
        )
    if first.utcoffset() != second.utcoffset():
        offsets = [_offset_text(t.utcoffset() or timedelta(0)) for t in (first, second)]
        raise TimeValueError(
            f"{when} happens twice in {zone} (at UTC{offsets[0]} and UTC{offsets[1]}) when the"
            " clocks go back; give the time with its UTC offset, or one outside that hour"
        )
    return first.astimezone(UTC)
