"""POST /api/events/schedule: the original client's request, and every way it can fail."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduling.models import AuditEntry, ScheduledEvent
from tests.api.conftest import event_body

pytestmark = pytest.mark.usefixtures("frozen_now")
URL = "/api/events/schedule"


def test_it_schedules_the_original_clients_request(api):
    response = api.post(URL, event_body())

    assert response.status_code == 201
    event = ScheduledEvent.objects.get(id=response.json()["event_id"])
    assert event.scheduled_time == datetime(2026, 12, 2, 14, 0, tzinfo=ZoneInfo("UTC"))
    assert event.service_id == "backend"
    assert event.timezone_context["user_timezone"] == "Europe/London"
    assert event.payload["reminder_type"] == "24_hour_reminder"
    assert event.periodic_task.clocked is not None
    assert response.json()["scheduled_time"] == "2026-12-02T14:00:00+00:00"


def test_service_id_may_be_left_out_and_execution_timezone_defaults_to_the_resources(api):
    body = event_body()
    del body["service_id"], body["timezone_context"]["execution_timezone"]
    response = api.post(URL, body)

    assert response.status_code == 201
    event = ScheduledEvent.objects.get(id=response.json()["event_id"])
    assert (event.service_id, event.execution_timezone) == ("backend", "America/New_York")


def test_a_recurring_event_gets_a_crontab_in_its_own_zone(api):
    body = event_body(
        type="BUSINESS_RULE",
        recurrence={"frequency": "DAILY", "timezone": "Europe/Paris"},
        payload={"rule_id": "mark_no_shows"},
    )
    response = api.post(URL, body)

    assert response.status_code == 201
    event = ScheduledEvent.objects.get(id=response.json()["event_id"])
    assert str(event.periodic_task.crontab.timezone) == "Europe/Paris"


def test_the_same_idempotency_key_returns_the_first_event_with_200(api):
    first = api.post(URL, event_body(), **{"Idempotency-Key": "k-1"})
    again = api.post(URL, event_body(), **{"Idempotency-Key": "k-1"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["event_id"] == first.json()["event_id"]
    assert ScheduledEvent.objects.count() == 1


def test_an_idempotency_key_reused_for_another_event_is_409_and_writes_nothing(api):
    api.post(URL, event_body(), **{"Idempotency-Key": "k-1"})
    before = _snapshot()

    response = api.post(URL, event_body(entity_id="appt-2"), **{"Idempotency-Key": "k-1"})

    assert response.status_code == 409
    assert "already used for a different event" in response.json()["errors"]["idempotency_key"][0]
    assert _snapshot() == before


def _zones(zone: str) -> dict[str, Any]:
    return event_body(timezone_context={"resource_timezone": zone, "user_timezone": zone})


def _snapshot() -> tuple[int, int]:
    return ScheduledEvent.objects.count(), AuditEntry.objects.count()


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (event_body(scheduled_time="2026-12-02T09:00:00"), "scheduled_time", "naive"),
        (event_body(scheduled_time="tomorrow"), "scheduled_time", "ISO 8601"),
        (event_body(scheduled_time=1764684000), "scheduled_time", "ISO 8601"),
        # Found by fuzzing: before year 1 once in UTC, a server error.
        (event_body(scheduled_time="0001-01-01T00:00:00+01:00"), "scheduled_time", "1970-01-01"),
        (event_body(scheduled_time="9999-12-31T23:59:59-01:00"), "scheduled_time", "2200-01-01"),
        (
            event_body(
                timezone_context={"resource_timezone": "Mars/Olympus", "user_timezone": "UTC"}
            ),
            "timezone_context.resource_timezone",
            "unknown IANA timezone",
        ),
        (
            event_body(timezone_context={"resource_timezone": "UTC"}),
            "timezone_context.user_timezone",
            "required",
        ),
        (event_body(type="BIRTHDAY_PARTY"), "type", "unknown event type"),
        (event_body(recurrence={"frequency": "MINUTELY"}), "recurrence.frequency", ""),
        (
            event_body(recurrence={"frequency": "WEEKLY", "by_weekday": [["MO"]]}),
            "recurrence.by_weekday",
            "weekday codes",
        ),
        (event_body(recurrence={"frequency": "DAILY", "count": 0}), "recurrence.count", ""),
        (event_body(recurrence="daily"), "recurrence", "object"),
        # Issue 14: the richer recurrence's fields.
        (
            event_body(recurrence={"frequency": "WEEKLY", "by_weekday": ["-1FR"]}),
            "recurrence.by_weekday",
            "MONTHLY or YEARLY",
        ),
        (
            event_body(recurrence={"frequency": "MONTHLY", "by_weekday": ["LAST-FR"]}),
            "recurrence.by_weekday",
            "-1FR the last Friday",
        ),
        (
            event_body(recurrence={"frequency": "YEARLY", "by_month": ["March"]}),
            "recurrence.by_month",
            "1 (January) to 12 (December)",
        ),
        (
            event_body(recurrence={"frequency": "YEARLY", "by_month": [2], "by_month_day": [30]}),
            "recurrence.by_month_day",
            "no month in by_month",
        ),
        (
            event_body(recurrence={"frequency": "DAILY", "exclude": ["2026-12-25T09:00:00Z"]}),
            "recurrence.exclude",
            "YYYY-MM-DD",
        ),
        (
            event_body(recurrence={"frequency": "DAILY", "exclude": {"2026-12-25": True}}),
            "recurrence.exclude",
            "list",
        ),
        (event_body(payload=[1, 2]), "payload", "JSON object"),
        (event_body(entity_id=""), "entity_id", "non-empty"),
        (event_body(entity_id="appt\x00"), "entity_id", "NUL"),
        (event_body(colour="red"), "colour", "unknown field"),
        ({"type": "DATA_CLEANUP"}, "entity_id", "required"),
        # Issue 10: server errors (UnicodeEncodeError, OverflowError) ...
        (event_body(entity_id="\ud800"), "entity_id", "Unicode"),
        (
            event_body(recurrence={"frequency": "DAILY", "until": "9999-12-31T23:59:59-01:00"}),
            "recurrence.until",
            "9999",
        ),
        # ... and garbage that was accepted.
        (_zones("localtime"), "timezone_context.resource_timezone", "unknown IANA timezone"),
        (_zones("posixrules"), "timezone_context.resource_timezone", "unknown IANA timezone"),
        (_zones("Factory"), "timezone_context.resource_timezone", "unknown IANA timezone"),
        (
            event_body(recurrence={"frequency": "DAILY", "timezone": "localtime"}),
            "recurrence.timezone",
            "unknown IANA timezone",
        ),
        (event_body(scheduled_time="2026-12-02T09:00:00-05:00\x00"), "scheduled_time", "ISO 8601"),
        (event_body(scheduled_time="2026-12-02T09:00:00\x00-05:00"), "scheduled_time", "ISO 8601"),
        (
            event_body(scheduled_time="2026-12-02T09:00:00+23:59:59.999999"),
            "scheduled_time",
            "whole minutes",
        ),
        (event_body(scheduled_time="2026-12-02T09:00:00+05:30:30"), "scheduled_time", "minutes"),
        (event_body(scheduled_time="2026-12-02T09:00:00-20:41"), "scheduled_time", "-14:00"),
        (
            # Fri 2026-12-04 to Sun 2026-12-06, on Mondays only: it can never fire.
            event_body(
                scheduled_time="2026-12-04T09:00:00-05:00",
                recurrence={
                    "frequency": "WEEKLY",
                    "by_weekday": ["MO"],
                    "until": "2026-12-06T23:59:59-05:00",
                },
            ),
            "recurrence.until",
            "2026-12-07T09:00:00-05:00",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(api, unchanged, body, field, says):
    response = api.post(URL, body)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    messages = response.json()["errors"][field]
    assert any(says in message for message in messages), messages
    assert_http_words(response.json())
    unchanged()


def assert_http_words(answer: dict[str, Any]) -> None:
    """Messages an HTTP caller can act on: no Python attribute or exception names."""
    words = " ".join([answer["message"], *(m for ms in answer["errors"].values() for m in ms)])
    for python in ("tzinfo", "ZoneInfo", "Error", "Exception", "datetime("):
        assert python not in words, words


def _nested_text(depth: int) -> str:
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


@pytest.mark.parametrize("depth", [33, 500, 1_000, 100_000])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        (json.dumps(event_body(payload="NESTED")), "payload"),
        (json.dumps({"events": [event_body(), event_body(payload="NESTED")]}), "events.1.payload"),
    ],
    ids=["schedule", "bulk"],
)
def test_a_payload_nested_too_deeply_is_400_naming_it(api, unchanged, depth, template, field):
    url = "/api/events/bulk" if template.startswith('{"events"') else URL
    response = api.post(url, template.replace('"NESTED"', _nested_text(depth)))

    assert response.status_code == 400, response.content
    assert "32 levels" in response.json()["errors"][field][0]
    assert_http_words(response.json())
    unchanged()


def test_deep_nesting_elsewhere_is_400_naming_the_field(api, unchanged):
    body = json.dumps(event_body(type="NESTED")).replace('"NESTED"', "[" * 5000 + "]" * 5000)
    response = api.post(URL, body)

    assert response.status_code == 400, response.content
    assert "type" in response.json()["errors"]
    unchanged()


def test_a_payload_nested_32_levels_deep_is_accepted(api):
    body = json.dumps(event_body(payload="NESTED")).replace('"NESTED"', _nested_text(32))
    assert api.post(URL, body).status_code == 201


@pytest.mark.parametrize("zone", ["UTC", "Etc/GMT+5", "Europe/Kyiv"])
def test_real_iana_zones_are_accepted(api, zone):
    assert api.post(URL, _zones(zone)).status_code == 201


@pytest.mark.parametrize(
    ("field", "default"),
    [("payload", {}), ("service_id", "backend"), ("recurrence", None)],
)
def test_an_optional_field_sent_as_null_counts_as_absent(api, field, default):
    # docs/http-api.md: "an optional field sent as null counts as absent".
    response = api.post(URL, event_body(**{field: None}))

    assert response.status_code == 201, response.content
    event = ScheduledEvent.objects.get(id=response.json()["event_id"])
    assert getattr(event, field) == default


def test_a_null_recurrence_interval_counts_as_absent(api):
    response = api.post(URL, event_body(recurrence={"frequency": "DAILY", "interval": None}))

    assert response.status_code == 201, response.content
    assert ScheduledEvent.objects.get().recurrence["interval"] == 1


@pytest.mark.parametrize(("first", "again"), [(1, True), (1, 1.0)])
def test_a_key_reused_with_a_payload_python_calls_equal_is_409(api, first, again):
    api.post(URL, event_body(payload={"n": first}), **{"Idempotency-Key": "k-1"})
    before = _snapshot()

    response = api.post(URL, event_body(payload={"n": again}), **{"Idempotency-Key": "k-1"})

    assert response.status_code == 409, response.content
    assert _snapshot() == before


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b"", "\ud800".encode("utf-8", "surrogatepass")]
)
def test_a_body_that_is_not_a_json_object_is_400(api, unchanged, body):
    response = api.post(URL, body)

    assert response.status_code == 400
    assert "body" in response.json()["errors"]
    unchanged()


def test_a_payload_over_the_limit_is_413_and_writes_nothing(api, unchanged, settings):
    settings.SCHEDULING_MAX_PAYLOAD_BYTES = 100
    response = api.post(URL, event_body(payload={"note": "x" * 200}))

    assert response.status_code == 413
    assert "limit is 100 bytes" in response.json()["errors"]["payload"][0]
    unchanged()


def test_a_body_over_the_limit_is_413_and_writes_nothing(api, unchanged, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post(URL, event_body(payload={"note": "x" * 2000}))

    assert response.status_code == 413
    unchanged()


def test_the_schedule_and_the_callers_address_are_audited_in_the_services_name(api):
    response = api.post(URL, event_body())

    entry = AuditEntry.objects.get(action="event.schedule")
    assert entry.target == response.json()["event_id"]
    assert (entry.actor_type, entry.actor, entry.address) == ("service", "backend", "203.0.113.7")
    assert entry.details["entity_id"] == "appt-1"
    assert "payload" not in entry.details
