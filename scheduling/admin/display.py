"""How the admin shows an instant: in a named zone with its offset, to the second,
with UTC on hover and how far off it is ("in 4 min", "3 h ago").
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

# (limit, unit in seconds, label): the first whose limit the distance is under.
_SCALES = (
    (timedelta(seconds=90), 1, "s"),
    (timedelta(minutes=90), 60, "min"),
    (timedelta(hours=36), 3600, "h"),
    (timedelta.max, 86400, "days"),
)


def local_time(instant: datetime | None, tz: str = "UTC", *, now: datetime | None = None) -> str:
    """``instant`` in zone ``tz`` ("2026-12-02 09:00:00 EST (UTC-05:00)"), as HTML.

    The UTC instant is in the tooltip and in the ``datetime`` attribute.
    """
    if instant is None:
        return "-"
    local = instant.astimezone(zoneinfo.ZoneInfo(tz))
    utc = instant.astimezone(zoneinfo.ZoneInfo("UTC"))
    return format_html(
        '<time datetime="{}" title="{} UTC{}">{} <small>{}</small></time>',
        utc.isoformat(),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        "" if tz == "UTC" else f" · {tz}",
        zoned(local),
        relative(instant, now or timezone.now()),
    )


def zoned(local: datetime) -> str:
    """A local time to the second with its zone's abbreviation and offset."""
    text = local.strftime("%Y-%m-%d %H:%M:%S %Z")
    offset = utc_offset(local)
    return text if offset == local.tzname() else f"{text} ({offset})"


def utc_offset(local: datetime) -> str:
    """ "UTC+05:30", "UTC-05:00", "UTC" for a local time."""
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return "UTC"
    sign = "+" if offset > timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def relative(instant: datetime, now: datetime) -> str:
    """How far ``instant`` is from ``now``: "in 4 min", "3 h ago", "now"."""
    distance = instant - now
    size = abs(distance)
    if size < timedelta(seconds=1):
        return "now"
    for limit, unit, label in _SCALES:
        if size < limit:
            amount = round(size.total_seconds() / unit)
            return f"in {amount} {label}" if distance > timedelta(0) else f"{amount} {label} ago"
    raise AssertionError("unreachable: the last scale has no limit")


def zone_hint(tz: str, *, now: datetime) -> SafeString:
    """What a form's times are read in: "Times are in America/New_York (EST, UTC-05:00 now)"."""
    local = now.astimezone(zoneinfo.ZoneInfo(tz))
    return format_html(
        "Times are in <strong>{}</strong> ({}, {} now).",
        tz,
        local.strftime("%Z"),
        utc_offset(local),
    )
