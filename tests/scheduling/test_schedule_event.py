"""The public write API: schedule, validate, deduplicate, cancel, reschedule."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import timezone as fixed_offset
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

import scheduling
from scheduling import (
    EventValidationError,
    IdempotencyConflict,
    cancel_event,
    reschedule_event,
    schedule_event,
    schedule_events,
    validation,
)
from scheduling.models import AuditEntry, EventStatus, ScheduledEvent
from scheduling.validation import NESTED_TOO_DEEPLY
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")


def table_counts() -> tuple[int, int, int, int, int]:
    return (
        ScheduledEvent.objects.count(),
        PeriodicTask.objects.count(),
        ClockedSchedule.objects.count(),
        CrontabSchedule.objects.count(),
        AuditEntry.objects.count(),
    )


def nested(depth: int) -> dict[str, Any]:
    """A payload ``depth`` objects deep, built without recursion."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def offset(hours: int, minutes: int = 0, seconds: int = 0, microseconds: int = 0) -> Any:
    return fixed_offset(
        timedelta(hours=hours, minutes=minutes, seconds=seconds, microseconds=microseconds)
    )


def test_the_api_is_importable_from_the_package() -> None:
    assert scheduling.get_upcoming_events is not None
    assert callable(scheduling.schedule_event)


class TestOneOff:
    def test_it_writes_a_clocked_one_off_periodic_task_at_the_utc_instant(
        self, frozen_now: datetime
    ) -> None:
        event = schedule_event(**event_kwargs())
        task = event.periodic_task
        assert task.task == "backend.process_event"
        assert task.queue == "backend-events"
        assert task.one_off is True
        assert task.crontab is None
        assert task.clocked.clocked_time.isoformat() == "2026-12-02T14:00:00+00:00"
        assert event.next_run_at == task.clocked.clocked_time

    def test_kwargs_carry_the_event_id_and_no_payload(self, frozen_now: datetime) -> None:
        event = schedule_event(**event_kwargs(payload={"secret": "s3cr3t"}))
        assert json.loads(event.periodic_task.kwargs) == {"event_id": str(event.id)}

    def test_the_payload_comes_back_as_stored_a_json_round_trip(self, frozen_now) -> None:
        event = schedule_event(**event_kwargs(payload={1: (2,)}, idempotency_key="k"))
        assert event.payload == {"1": [2]}
        again = schedule_event(**event_kwargs(payload={"1": [2]}, idempotency_key="k"))
        assert again.id == event.id

    def test_execution_timezone_defaults_to_the_resource_timezone(self, frozen_now) -> None:
        event = schedule_event(**event_kwargs())
        assert event.timezone_context == {
            "resource_timezone": "America/New_York",
            "user_timezone": "Europe/London",
            "execution_timezone": "America/New_York",
        }


class TestRecurring:
    def test_it_writes_a_crontab_in_the_events_own_timezone(self, frozen_now) -> None:
        event = schedule_event(
            **event_kwargs(
                event_type="BUSINESS_RULE",
                scheduled_time=datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata")),
                resource_timezone="Asia/Kolkata",
                payload={"rule_id": "no-shows"},
                recurrence={"frequency": "DAILY", "interval": 1},
            )
        )
        crontab = event.periodic_task.crontab
        assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("0", "9", "*")
        assert str(crontab.timezone) == "Asia/Kolkata"
        assert event.periodic_task.clocked is None
        assert event.periodic_task.one_off is False
        assert event.next_run_at.isoformat() == "2026-12-02T03:30:00+00:00"

    def test_until_becomes_the_periodic_task_expiry(self, frozen_now) -> None:
        event = schedule_event(
            **event_kwargs(recurrence={"frequency": "WEEKLY", "until": "2027-01-31T00:00:00+00:00"})
        )
        assert event.periodic_task.expires.isoformat() == "2027-01-31T00:00:00+00:00"

    def test_a_start_in_the_past_fires_next_at_the_next_slot(self, frozen_now) -> None:
        event = schedule_event(
            **event_kwargs(
                scheduled_time=datetime(2026, 1, 1, 9, 0, tzinfo=NY),
                recurrence={"frequency": "DAILY"},
            )
        )
        assert event.next_run_at.isoformat() == "2026-12-01T14:00:00+00:00"


class TestBadInputChangesNothing:
    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"scheduled_time": datetime(2026, 12, 2, 9, 0)}, "scheduled_time"),  # naive
            ({"scheduled_time": "2026-12-02T09:00:00Z"}, "scheduled_time"),
            ({"resource_timezone": "America/Gotham"}, "resource_timezone"),
            ({"user_timezone": "EST5EDT6"}, "user_timezone"),
            ({"execution_timezone": "Nowhere"}, "execution_timezone"),
            ({"event_type": "BIRTHDAY_PARTY"}, "event_type"),
            ({"entity_id": ""}, "entity_id"),
            ({"payload": {"when": datetime(2026, 1, 1)}}, "payload"),
            ({"payload": {"x": float("nan")}}, "payload"),
            ({"payload": ["not", "an", "object"]}, "payload"),
            ({"payload": {"blob": "x" * 70_000}}, "payload"),
            ({"recurrence": {"frequency": "SECONDLY"}}, "recurrence.frequency"),
            ({"recurrence": {"frequency": "DAILY", "interval": -1}}, "recurrence.interval"),
            ({"recurrence": "DAILY"}, "recurrence"),
            # Issue 14: the richer recurrence's fields.
            (
                {"recurrence": {"frequency": "WEEKLY", "by_weekday": ["-1FR"]}},
                "recurrence.by_weekday",
            ),
            ({"recurrence": {"frequency": "YEARLY", "by_month": [13]}}, "recurrence.by_month"),
            (
                {"recurrence": {"frequency": "YEARLY", "by_month": [2], "by_month_day": [30]}},
                "recurrence.by_month_day",
            ),
            (
                {"recurrence": {"frequency": "DAILY", "exclude": ["2026-12-25T09:00:00-05:00"]}},
                "recurrence.exclude",
            ),
            (
                # Every date the rule has left (the 2nd and 3rd) is excluded.
                {
                    "recurrence": {
                        "frequency": "DAILY",
                        "until": "2026-12-03T23:59:00-05:00",
                        "exclude": ["2026-12-02", "2026-12-03"],
                    }
                },
                "recurrence.exclude",
            ),
            # Issue 10: these escaped as RecursionError, UnicodeEncodeError or
            # OverflowError, or were accepted.
            ({"payload": nested(2_000)}, "payload"),
            ({"payload": nested(33)}, "payload"),
            ({"entity_id": "\ud800"}, "entity_id"),
            ({"idempotency_key": "key-\ud800"}, "idempotency_key"),
            (
                {"recurrence": {"frequency": "DAILY", "until": "9999-12-31T23:59:59-01:00"}},
                "recurrence.until",
            ),
            (
                {
                    "recurrence": {
                        "frequency": "DAILY",
                        "until": datetime(9999, 12, 31, 23, 59, 59, tzinfo=offset(-1)),
                    }
                },
                "recurrence.until",
            ),
            ({"resource_timezone": "localtime"}, "resource_timezone"),
            ({"user_timezone": "posixrules"}, "user_timezone"),
            ({"execution_timezone": "Factory"}, "execution_timezone"),
            (
                {"recurrence": {"frequency": "DAILY", "timezone": "localtime"}},
                "recurrence.timezone",
            ),
            (
                {"scheduled_time": datetime(2026, 12, 2, 9, tzinfo=offset(23, 59, 59, 999_999))},
                "scheduled_time",
            ),
            (
                {"scheduled_time": datetime(2026, 12, 2, 9, tzinfo=offset(5, 30, 30))},
                "scheduled_time",
            ),
            ({"scheduled_time": datetime(2026, 12, 2, 9, tzinfo=offset(-15))}, "scheduled_time"),
            (
                # Fri 2026-12-04 to Sun 2026-12-06, on Mondays only: it can never fire.
                {
                    "scheduled_time": datetime(2026, 12, 4, 9, 0, tzinfo=NY),
                    "recurrence": {
                        "frequency": "WEEKLY",
                        "by_weekday": ["MO"],
                        "until": "2026-12-06T23:59:59-05:00",
                    },
                },
                "recurrence.until",
            ),
            (
                # Day 31 in Aprils only (every 12 months from 30 April): never.
                {
                    "scheduled_time": datetime(2027, 4, 30, 9, 0, tzinfo=NY),
                    "recurrence": {"frequency": "MONTHLY", "interval": 12, "by_month_day": [31]},
                },
                "recurrence",
            ),
            (
                # Every firing up to until is already past (NOW is 2026-12-01).
                {
                    "scheduled_time": datetime(2026, 1, 1, 9, 0, tzinfo=NY),
                    "recurrence": {"frequency": "DAILY", "until": "2026-02-01T00:00:00Z"},
                },
                "recurrence.until",
            ),
        ],
        ids=lambda value: value if isinstance(value, str) else "",
    )
    def test_it_raises_one_error_naming_the_field_and_writes_nothing(
        self, frozen_now, overrides: dict, field: str
    ) -> None:
        before = table_counts()
        with pytest.raises(EventValidationError) as caught:
            schedule_event(**event_kwargs(**overrides))
        assert field in caught.value.message_dict
        assert table_counts() == before

    def test_a_bad_item_in_a_bulk_call_names_its_index_and_writes_nothing(self, frozen_now):
        items = [event_kwargs(idempotency_key="a"), event_kwargs(idempotency_key="\ud800")]
        before = table_counts()
        with pytest.raises(EventValidationError) as caught:
            schedule_events(items)
        assert list(caught.value.message_dict) == ["1.idempotency_key"]
        assert table_counts() == before

    @pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
    def test_real_iana_zones_are_still_accepted(self, frozen_now, zone: str) -> None:
        event = schedule_event(**event_kwargs(resource_timezone=zone, user_timezone=zone))
        assert event.timezone_context["resource_timezone"] == zone

    def test_a_payload_nested_32_levels_deep_is_accepted(self, frozen_now) -> None:
        event = schedule_event(**event_kwargs(payload=nested(32)))
        event.refresh_from_db()
        assert event.payload == nested(32)

    @pytest.mark.parametrize(
        "payload",
        [
            nested(33),
            nested(2_000),
            {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
        ],
        ids=["33 objects", "2,000 objects", "33 lists"],
    )
    def test_a_payload_too_deep_is_refused_naming_the_limit(self, frozen_now, payload) -> None:
        before = table_counts()
        with pytest.raises(EventValidationError) as caught:
            schedule_event(**event_kwargs(payload=payload))
        assert caught.value.message_dict == {"payload": [NESTED_TOO_DEEPLY]}
        assert table_counts() == before

    def test_a_payload_that_contains_itself_is_refused_as_too_deep(self, frozen_now) -> None:
        payload: dict[str, Any] = {"a": 1}
        payload["self"] = payload
        with pytest.raises(EventValidationError) as caught:
            schedule_event(**event_kwargs(payload=payload))
        assert caught.value.message_dict == {"payload": [NESTED_TOO_DEEPLY]}

    def test_brackets_in_a_payloads_text_are_not_levels(self, frozen_now) -> None:
        # More brackets than levels allowed, all inside strings, beside 31
        # real levels: walked, and accepted.
        payload = nested(31) | {"text": "{[" * 40}
        event = schedule_event(**event_kwargs(payload=payload))
        event.refresh_from_db()
        assert event.payload == payload

    def test_a_shallow_payload_is_not_walked_level_by_level(
        self, frozen_now, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        walks: list[object] = []
        walk = validation._nested_deeper_than
        monkeypatch.setattr(
            validation,
            "_nested_deeper_than",
            lambda value, limit: walks.append(value) or walk(value, limit),
        )
        schedule_event(**event_kwargs(payload={"a": [1, {"b": 2}], "c": "{[{["}))
        assert walks == []
        with pytest.raises(EventValidationError):
            schedule_event(**event_kwargs(payload=nested(33)))
        assert len(walks) == 1

    def test_a_value_json_cannot_hold_is_named(self, frozen_now) -> None:
        with pytest.raises(EventValidationError) as caught:
            schedule_event(**event_kwargs(payload={"at": datetime(2027, 1, 1, tzinfo=UTC)}))
        [message] = caught.value.message_dict["payload"]
        assert message.startswith("must be JSON-serialisable: ")

    def test_every_bad_field_is_reported_at_once(self, frozen_now) -> None:
        with pytest.raises(EventValidationError) as caught:
            schedule_event(
                **event_kwargs(event_type="NOPE", resource_timezone="Nope/Nope", payload=None)
            )
        assert {"event_type", "resource_timezone", "payload"} <= set(caught.value.message_dict)

    def test_the_payload_limit_is_documented_in_the_message(self, frozen_now, settings) -> None:
        settings.SCHEDULING_MAX_PAYLOAD_BYTES = 100
        with pytest.raises(EventValidationError, match="limit is 100 bytes"):
            schedule_event(**event_kwargs(payload={"blob": "x" * 200}))

    def test_one_bad_item_in_a_bulk_call_writes_none_of_them(self, frozen_now) -> None:
        items = [event_kwargs(entity_id=f"appt-{i}") for i in range(3)]
        items[1]["scheduled_time"] = datetime(2026, 12, 2, 9, 0)
        with pytest.raises(EventValidationError) as caught:
            schedule_events(items)
        assert "1.scheduled_time" in caught.value.message_dict
        assert table_counts() == (0, 0, 0, 0, 0)


class TestIdempotency:
    def test_the_same_event_twice_is_one_event(self, frozen_now) -> None:
        first = schedule_event(**event_kwargs())
        second = schedule_event(**event_kwargs())
        assert first.id == second.id
        assert table_counts()[:2] == (1, 1)

    def test_the_same_idempotency_key_returns_the_first_event(self, frozen_now) -> None:
        first = schedule_event(**event_kwargs(idempotency_key="k-1"))
        again = schedule_event(**event_kwargs(idempotency_key="k-1"))
        assert again.id == first.id

    def test_a_key_reused_for_another_event_is_a_conflict(self, frozen_now) -> None:
        schedule_event(**event_kwargs(idempotency_key="k-1"))
        with pytest.raises(IdempotencyConflict):
            schedule_event(**event_kwargs(idempotency_key="k-1", entity_id="appt-2"))
        assert ScheduledEvent.objects.count() == 1

    @pytest.mark.parametrize(("first", "again"), [(1, True), (0, False), (1, 1.0)])
    def test_a_key_reused_with_a_payload_python_calls_equal_is_a_conflict(
        self, frozen_now, first: object, again: object
    ) -> None:
        # 1 == True == 1.0 in Python, but they are different JSON and a
        # handler reading the payload sees the difference.
        schedule_event(**event_kwargs(idempotency_key="k-1", payload={"n": first}))
        before = table_counts()
        with pytest.raises(IdempotencyConflict):
            schedule_event(**event_kwargs(idempotency_key="k-1", payload={"n": again}))
        assert table_counts() == before

    def test_a_key_reused_with_another_zone_is_a_conflict(self, frozen_now) -> None:
        schedule_event(**event_kwargs(idempotency_key="k-1"))
        with pytest.raises(IdempotencyConflict):
            schedule_event(**event_kwargs(idempotency_key="k-1", user_timezone="Asia/Tokyo"))

    def test_the_same_payload_in_another_key_order_is_the_same_event(self, frozen_now) -> None:
        first = schedule_event(**event_kwargs(idempotency_key="k-1", payload={"a": 1, "b": 2}))
        again = schedule_event(**event_kwargs(idempotency_key="k-1", payload={"b": 2, "a": 1}))
        assert again.id == first.id

    def test_keys_are_per_service(self, frozen_now) -> None:
        a = schedule_event(**event_kwargs(idempotency_key="k-1"))
        b = schedule_event(**event_kwargs(idempotency_key="k-1", service_id="billing"))
        assert a.id != b.id

    def test_a_cancelled_event_does_not_block_scheduling_it_again(self, frozen_now) -> None:
        first = schedule_event(**event_kwargs())
        cancel_event(first.id)
        second = schedule_event(**event_kwargs())
        assert second.id != first.id

    def test_bulk_deduplicates_within_the_batch_and_against_the_table(self, frozen_now) -> None:
        existing = schedule_event(**event_kwargs())
        events = schedule_events(
            [event_kwargs(), event_kwargs(entity_id="appt-2"), event_kwargs(entity_id="appt-2")]
        )
        assert events[0].id == existing.id
        assert events[1].id == events[2].id
        assert ScheduledEvent.objects.count() == 2

    def test_a_new_key_for_an_event_already_scheduled_returns_that_event(self, frozen_now):
        # Found by fuzzing the HTTP API: the natural-key constraint refused the
        # insert and the caller got a server error.
        first = schedule_event(**event_kwargs())
        keyed = schedule_event(**event_kwargs(idempotency_key="k-new"))
        assert keyed.id == first.id
        assert ScheduledEvent.objects.count() == 1

    def test_bulk_items_with_different_keys_for_one_event_are_one_event(self, frozen_now):
        events = schedule_events(
            [event_kwargs(idempotency_key="a"), event_kwargs(idempotency_key="b")]
        )
        assert events[0].id == events[1].id
        assert ScheduledEvent.objects.count() == 1

    def test_one_key_for_two_events_in_a_batch_is_a_conflict(self, frozen_now) -> None:
        with pytest.raises(IdempotencyConflict):
            schedule_events(
                [
                    event_kwargs(idempotency_key="k"),
                    event_kwargs(idempotency_key="k", entity_id="appt-2"),
                ]
            )
        assert table_counts() == (0, 0, 0, 0, 0)


class TestCancel:
    def test_it_cancels_and_disables_the_beat_row(self, make_event: Callable, frozen_now) -> None:
        event = make_event()
        assert cancel_event(event.id).cancelled is True
        event.refresh_from_db()
        assert event.status == EventStatus.CANCELLED
        assert event.next_run_at is None
        assert event.periodic_task.enabled is False

    def test_it_returns_false_for_unknown_or_already_cancelled(self, make_event, frozen_now):
        event = make_event()
        cancel_event(event.id)
        assert cancel_event(event.id).cancelled is False
        assert not cancel_event("00000000-0000-0000-0000-000000000000")
        assert not cancel_event("not-a-uuid")
        assert not cancel_event("\ud800")


class TestReschedule:
    def test_it_replaces_the_event_instead_of_adding_one(self, make_event, frozen_now) -> None:
        old = make_event()
        new = reschedule_event(old.id, scheduled_time=old.scheduled_time + timedelta(hours=2))
        old.refresh_from_db()
        assert old.status == EventStatus.CANCELLED
        assert new.status == EventStatus.SCHEDULED
        assert new.next_run_at.isoformat() == "2026-12-02T16:00:00+00:00"
        assert new.payload == old.payload
        assert ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED).count() == 1

    @pytest.mark.parametrize("event_id", ["not-a-uuid", "\ud800"])
    def test_an_id_that_is_not_a_uuid_is_a_validation_error(self, frozen_now, event_id) -> None:
        # Was Django's own ValidationError ("... is not a valid UUID").
        before = table_counts()
        with pytest.raises(EventValidationError) as caught:
            reschedule_event(event_id, scheduled_time=datetime(2026, 12, 3, 9, 0, tzinfo=NY))
        assert "event_id" in caught.value.message_dict
        assert table_counts() == before

    def test_an_unknown_id_is_still_does_not_exist(self, frozen_now) -> None:
        with pytest.raises(ScheduledEvent.DoesNotExist):
            reschedule_event(
                "00000000-0000-0000-0000-000000000000",
                scheduled_time=datetime(2026, 12, 3, 9, 0, tzinfo=NY),
            )

    def test_a_naive_new_time_is_rejected_and_the_old_event_stays(self, make_event, frozen_now):
        old = make_event()
        with pytest.raises(EventValidationError):
            reschedule_event(old.id, scheduled_time=datetime(2026, 12, 3, 9, 0))
        old.refresh_from_db()
        assert old.status == EventStatus.SCHEDULED
