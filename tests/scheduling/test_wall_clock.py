"""A wall-clock time typed in a zone names one instant, or is refused with a reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from scheduling.timecheck import TimeValueError, wall_clock_in_zone


@pytest.mark.parametrize(
    ("wall", "zone", "expected"),
    [
        ("2026-12-02T09:00:00", "America/New_York", "2026-12-02T14:00:00+00:00"),
        # 1. Spring: New York skips 02:00-03:00 on 2027-03-14; 03:00 is EDT.
        ("2027-03-14T03:00:00", "America/New_York", "2027-03-14T07:00:00+00:00"),
        # 2. Autumn: Paris repeats 02:00-03:00 on 2026-10-25; 03:00 is CET once.
        ("2026-10-25T03:00:00", "Europe/Paris", "2026-10-25T02:00:00+00:00"),
        ("2026-10-25T01:59:59", "Europe/Paris", "2026-10-24T23:59:59+00:00"),
        ("2026-12-02T09:00:00", "Asia/Kolkata", "2026-12-02T03:30:00+00:00"),
    ],
)
def test_a_time_that_exists_once_is_that_instant(wall: str, zone: str, expected: str) -> None:
    assert wall_clock_in_zone(datetime.fromisoformat(wall), zone).isoformat() == expected


def test_a_time_in_the_spring_gap_does_not_exist() -> None:
    with pytest.raises(TimeValueError, match="does not exist in America/New_York"):
        wall_clock_in_zone(datetime(2027, 3, 14, 2, 30), "America/New_York")


def test_a_time_in_the_autumn_fold_happens_twice() -> None:
    with pytest.raises(TimeValueError, match=r"\(at UTC\+02:00 and UTC\+01:00\)"):
        wall_clock_in_zone(datetime(2026, 10, 25, 2, 30), "Europe/Paris")
