"""Where the UTC offset of a zone changes: the DST cases the property tests visit."""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

FIRST_YEAR = 2020
LAST_YEAR = 2037


@dataclass(frozen=True)
class Transition:
    instant: datetime  # the first UTC instant with the new offset
    before: timedelta
    after: timedelta

    @property
    def shift(self) -> timedelta:
        return self.after - self.before


@functools.cache
def transitions(zone: str) -> tuple[Transition, ...]:
    """Every offset change of ``zone`` from FIRST_YEAR to LAST_YEAR, to the second."""
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    days = (datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC) - start).days
    found: list[Transition] = []
    previous = start.astimezone(tz).utcoffset()
    for day in range(1, days + 1):
        instant = start + timedelta(days=day)
        offset = instant.astimezone(tz).utcoffset()
        if offset != previous:
            assert offset is not None
            assert previous is not None
            found.append(_refine(tz, instant - timedelta(days=1), instant, previous, offset))
            previous = offset
    return tuple(found)


def _refine(
    tz: zoneinfo.ZoneInfo, low: datetime, high: datetime, before: timedelta, after: timedelta
) -> Transition:
    # Bisect to the first second with the new offset.
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).utcoffset() == before:
            low = middle
        else:
            high = middle
    return Transition(high.replace(microsecond=0), before, after)


def wall_time_exists(zone: str, local: datetime) -> bool:
    """Whether the naive wall time ``local`` happens at all in ``zone``."""
    tz = zoneinfo.ZoneInfo(zone)
    there_and_back = local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    return there_and_back.replace(tzinfo=None) == local
