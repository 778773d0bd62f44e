"""get_upcoming_events: one-offs, recurring expansion, zones and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as fixed_offset
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from scheduling import EventValidationError, cancel_event, get_upcoming_events, schedule_event
from tests.conftest import NOW, event_kwargs
from tests.plans import plans_of

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def test_it_shows_the_time_in_the_requested_zone_with_its_offset(frozen_now) -> None:
    event = schedule_event(**event_kwargs())
    [item] = get_upcoming_events(timezone="Asia/Tokyo")
    assert item["id"] == str(event.id)
    assert item["type"] == "APPOINTMENT_REMINDER"
    assert item["entity_id"] == "appt-1"
    assert item["scheduled_time"] == "2026-12-02T23:00:00+09:00"
    assert item["timezone_context"]["user_timezone"] == "Europe/London"
    assert item["payload"]["reminder_type"] == "24_hour_reminder"
    assert item["recurrence"] is None
    assert item["status"] == "scheduled"


def test_it_filters_by_entity_window_and_service_and_omits_cancelled(frozen_now) -> None:
    schedule_event(**event_kwargs())
    schedule_event(**event_kwargs(entity_id="appt-2"))
    schedule_event(**event_kwargs(service_id="billing"))
    late = schedule_event(**event_kwargs(scheduled_time=datetime(2027, 1, 5, 9, 0, tzinfo=NY)))
    gone = schedule_event(**event_kwargs(entity_id="appt-3"))
    cancel_event(gone.id)

    assert len(get_upcoming_events(entity_id="appt-1")) == 2
    assert len(get_upcoming_events(end_time=NOW + timedelta(days=7))) == 2
    assert [e["id"] for e in get_upcoming_events(start_time=NOW + timedelta(days=7))] == [
        str(late.id)
    ]
    assert len(get_upcoming_events(service_id="billing")) == 1


def test_a_recurring_event_appears_once_per_firing_in_the_window(frozen_now) -> None:
    schedule_event(
        **event_kwargs(
            event_type="BUSINESS_RULE",
            payload={"rule_id": "r"},
            recurrence={"frequency": "DAILY"},
        )
    )
    end = datetime(2026, 12, 4, 9, 0, tzinfo=NY)  # inclusive
    items = get_upcoming_events(end_time=end, timezone="America/New_York")
    assert [i["scheduled_time"] for i in items] == [
        "2026-12-02T09:00:00-05:00",
        "2026-12-03T09:00:00-05:00",
        "2026-12-04T09:00:00-05:00",
    ]


def test_recurring_expansion_honours_count_and_is_bounded(frozen_now, settings) -> None:
    schedule_event(**event_kwargs(recurrence={"frequency": "DAILY", "count": 2}))
    schedule_event(**event_kwargs(entity_id="forever", recurrence={"frequency": "DAILY"}))
    settings.SCHEDULING_UPCOMING_MAX_PER_EVENT = 5
    items = get_upcoming_events()
    assert sum(1 for i in items if i["entity_id"] == "appt-1") == 2
    assert sum(1 for i in items if i["entity_id"] == "forever") == 5


def test_a_window_starting_later_jumps_to_it(frozen_now) -> None:
    schedule_event(**event_kwargs(recurrence={"frequency": "WEEKLY"}))
    start = datetime(2027, 6, 1, tzinfo=NY)
    items = get_upcoming_events(start_time=start, end_time=start + timedelta(days=7))
    # 2026-12-02 is a Wednesday; the rule keeps Wednesdays.
    assert [i["scheduled_time"] for i in items] == ["2027-06-02T13:00:00+00:00"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start_time": datetime(2026, 12, 1)}, "start_time"),
        ({"end_time": datetime(2026, 12, 1)}, "end_time"),
        ({"timezone": "Atlantis/Capital"}, "timezone"),
        ({"start_time": NOW, "end_time": NOW - timedelta(days=1)}, "end_time"),
        # Issue 10: a ValueError, a UnicodeEncodeError, or accepted.
        ({"limit": -1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"entity_id": "\ud800"}, "entity_id"),
        ({"entity_id": "appt\x00"}, "entity_id"),
        ({"timezone": "localtime"}, "timezone"),
        (
            {
                "start_time": datetime(
                    2026, 12, 1, tzinfo=fixed_offset(timedelta(hours=23, minutes=59))
                )
            },
            "start_time",
        ),
        (
            {"end_time": datetime(9999, 12, 31, 23, tzinfo=fixed_offset(-timedelta(hours=1)))},
            "end_time",
        ),
    ],
)
def test_bad_query_arguments_raise(frozen_now, kwargs: dict, field: str) -> None:
    with pytest.raises(EventValidationError) as caught:
        get_upcoming_events(**kwargs)
    assert field in caught.value.message_dict


def test_only_the_rules_that_can_fire_first_are_expanded(frozen_now, monkeypatch) -> None:
    # 40 daily rules, one a minute from 09:00 New York, and a one-off among them.
    for i in range(40):
        schedule_event(
            **event_kwargs(
                entity_id=f"rule-{i}",
                scheduled_time=datetime(2026, 12, 2, 9, i, tzinfo=NY),
                recurrence={"frequency": "DAILY"},
            )
        )
    schedule_event(
        **event_kwargs(entity_id="once", scheduled_time=datetime(2026, 12, 2, 9, 2, 30, tzinfo=NY))
    )
    import scheduling.selectors

    expanded = []
    real_expand = scheduling.selectors._expand

    def counting(event, start, end):
        expanded.append(event.entity_id)
        return real_expand(event, start, end)

    monkeypatch.setattr(scheduling.selectors, "_expand", counting)
    items = get_upcoming_events(limit=5, timezone="America/New_York")

    assert [(i["entity_id"], i["scheduled_time"]) for i in items] == [
        ("rule-0", "2026-12-02T09:00:00-05:00"),
        ("rule-1", "2026-12-02T09:01:00-05:00"),
        ("rule-2", "2026-12-02T09:02:00-05:00"),
        ("once", "2026-12-02T09:02:30-05:00"),
        ("rule-3", "2026-12-02T09:03:00-05:00"),
    ]
    # The sixth rule's next run (09:05) comes after five known firings: it and
    # every later one are not read.
    assert expanded == [f"rule-{i}" for i in range(5)]
    # Read a page of 7 at a time, to the end of the rules: every one of them.
    monkeypatch.setattr(scheduling.selectors, "_PAGE", 7)
    expanded.clear()
    everything = get_upcoming_events(limit=300, timezone="America/New_York")
    assert sorted(expanded) == sorted(f"rule-{i}" for i in range(40))
    firsts = [i["scheduled_time"] for i in everything if i["entity_id"].startswith("rule-")][:40]
    assert firsts == [f"2026-12-02T09:{m:02d}:00-05:00" for m in range(40)]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
@pytest.mark.django_db(transaction=True)
def test_rules_are_read_down_the_due_index_a_page_at_a_time(frozen_now) -> None:
    from scheduling import schedule_events

    schedule_events(
        [
            event_kwargs(
                entity_id=f"rule-{i}",
                scheduled_time=datetime(2026, 12, 2, i % 24, i % 60, tzinfo=NY),
                recurrence={"frequency": "DAILY"},
            )
            for i in range(400)
        ]
        + [
            event_kwargs(entity_id=f"once-{i}", scheduled_time=NOW + timedelta(hours=1, minutes=i))
            for i in range(4000)
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with plans_of(lambda sql: sql.startswith("SELECT") and "crontabschedule" in sql) as plans:
        items = get_upcoming_events(limit=1000)

    assert len(items) == 1000
    assert plans
    for plan in plans:
        assert "Index Scan using event_due_idx" in plan
        assert "Hash" not in plan
        assert "Merge Join" not in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a writer beside the reader")
@pytest.mark.django_db(transaction=True)
def test_a_rule_beat_advances_while_the_listing_reads_is_listed_once(
    frozen_now, monkeypatch
) -> None:
    import threading

    import scheduling.selectors
    from scheduling.models import ScheduledEvent

    base = NOW + timedelta(days=1)
    rules = [
        schedule_event(
            **event_kwargs(
                entity_id=f"rule-{i}",
                scheduled_time=base + timedelta(minutes=i),
                recurrence={"frequency": "DAILY"},
            )
        )
        for i in range(3)
    ]
    monkeypatch.setattr(scheduling.selectors, "_PAGE", 1)
    real_expand = scheduling.selectors._expand
    advanced = []

    def beat_advances_the_first_rule():
        # As a claim does, from its own connection: to its next slot, past
        # the rules the listing has not read yet.
        ScheduledEvent.objects.filter(pk=rules[0].pk).update(next_run_at=base + timedelta(days=1))
        connection.close()

    def expand(event, start, end):
        if not advanced:
            advanced.append(event.entity_id)
            writer = threading.Thread(target=beat_advances_the_first_rule)
            writer.start()
            writer.join()
        return real_expand(event, start, end)

    monkeypatch.setattr(scheduling.selectors, "_expand", expand)
    items = get_upcoming_events(start_time=base, end_time=base + timedelta(days=1, minutes=5))

    pairs = [(i["entity_id"], i["scheduled_time"]) for i in items]
    assert advanced == ["rule-0"]
    assert len(pairs) == len(set(pairs)), pairs
    assert [entity for entity, _ in pairs].count("rule-0") == 2  # today and tomorrow, once each
