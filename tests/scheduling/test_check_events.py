from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_it_lists_upcoming_events_in_the_given_zone(make_event, frozen_now) -> None:
    event = make_event()
    make_event(entity_id="other")
    out = StringIO()
    call_command("check_events", "--entity-id", "appt-1", "--timezone", "Asia/Tokyo", stdout=out)
    assert out.getvalue().splitlines() == [
        "Found 1 upcoming events",
        f"  - {event.id}: APPOINTMENT_REMINDER at 2026-12-02T23:00:00+09:00",
    ]


def test_it_looks_ahead_only_the_given_days(make_event, frozen_now) -> None:
    make_event()
    out = StringIO()
    call_command("check_events", "--days", "0", stdout=out)
    assert out.getvalue().startswith("Found 0 upcoming events")


def test_an_unknown_zone_is_a_command_error(frozen_now) -> None:
    with pytest.raises(CommandError, match="timezone"):
        call_command("check_events", "--timezone", "Moon/Base")
