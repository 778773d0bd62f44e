"""The OpenAPI document describes exactly the routes and shapes the views have."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
from django.urls import URLPattern

from scheduling.api import openapi
from scheduling.api import urls as api_urls
from tests.api.conftest import event_body

DOC = openapi.document()


def _validate(instance: Any, schema_name: str) -> None:
    root = {**DOC, "$ref": f"#/components/schemas/{schema_name}"}
    jsonschema_rs.Draft202012Validator(root).validate(instance)


def _routes() -> dict[str, set[str]]:
    routes = {}
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        path = "/api/" + re.sub(r"<\w+:(\w+)>", r"{\1}", str(pattern.pattern))
        methods = getattr(pattern.callback, "allowed_methods", None)
        if methods is not None:  # the document's own route is not an endpoint
            routes[path] = {m.lower() for m in methods}
    return routes


def test_every_endpoint_is_described_with_exactly_its_methods() -> None:
    described = {path: set(operations) for path, operations in DOC["paths"].items()}

    assert described == {**_routes(), "/health": {"get"}}


@pytest.mark.django_db
def test_health_is_described_as_it_answers(client) -> None:
    _validate(client.get("/health").json(), "Health")


def test_the_document_is_served(client) -> None:
    assert client.get("/api/openapi.json").json() == DOC


def test_every_schema_is_valid_json_schema() -> None:
    for schema in DOC["components"]["schemas"].values():
        jsonschema_rs.meta.validate(schema)


def test_the_original_clients_request_matches_the_schema() -> None:
    _validate(event_body(), "EventRequest")
    _validate({"events": [event_body(idempotency_key="k")]}, "BulkRequest")
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(event_body(colour="red"), "EventRequest")


def test_the_zone_enum_has_the_real_names_and_no_pseudo_zones() -> None:
    zones = set(DOC["components"]["schemas"]["Timezone"]["enum"])

    assert {"UTC", "Etc/GMT+5", "America/New_York"} <= zones
    assert not {"localtime", "posixrules", "Factory"} & zones


def test_optional_fields_may_be_null_as_the_views_take_them() -> None:
    body = event_body(service_id=None, payload=None, recurrence={"frequency": "DAILY"})
    body["recurrence"].update(
        interval=None, count=None, until=None, timezone=None, by_month=None, exclude=None
    )
    body["timezone_context"]["execution_timezone"] = None

    _validate(body, "EventRequest")


@pytest.mark.usefixtures("frozen_now")
def test_real_answers_match_the_schemas(api) -> None:
    scheduled = api.post("/api/events/schedule", event_body()).json()
    upcoming = api.get("/api/events/upcoming").json()
    bad = api.post("/api/events/schedule", event_body(type="NOPE")).json()
    cancelled = api.delete(f"/api/events/{scheduled['event_id']}").json()

    _validate(scheduled, "Scheduled")
    for item in upcoming:
        _validate(item, "UpcomingEvent")
    _validate(bad, "Error")
    _validate(cancelled, "Cancelled")


def test_every_status_code_a_view_can_answer_is_documented() -> None:
    for path, operations in DOC["paths"].items():
        if path == "/health":  # public: no key, no rate limit
            continue
        for operation in operations.values():
            assert {"401", "403", "405", "429", "503"} <= set(operation["responses"]), path


RICHER = {
    "frequency": "MONTHLY",
    "by_weekday": ["-1FR", "+2MO"],
    "by_month": [3, 11],
    "exclude": ["2027-03-26"],
}


@pytest.mark.usefixtures("frozen_now")
def test_the_richer_recurrence_is_described_as_the_views_take_it(api) -> None:
    body = event_body(recurrence=RICHER)
    _validate(body, "EventRequest")
    scheduled = api.post("/api/events/schedule", body)
    assert scheduled.status_code == 201, scheduled.content
    [first, *_] = api.get("/api/events/upcoming", {"timezone": "America/New_York"}).json()

    _validate(scheduled.json(), "Scheduled")
    _validate(first, "UpcomingEvent")
    assert first["scheduled_time"] == "2027-03-08T09:00:00-05:00"  # the second Monday
    assert first["recurrence"]["by_weekday"] == ["2MO", "-1FR"]


@pytest.mark.parametrize(
    "recurrence",
    [
        {"frequency": "MONTHLY", "by_weekday": ["-1fr"]},
        {"frequency": "MONTHLY", "by_weekday": ["6MO"]},
        {"frequency": "YEARLY", "by_month": [13]},
        {"frequency": "DAILY", "exclude": "2026-12-25"},
    ],
)
def test_the_schema_refuses_what_the_views_refuse(recurrence) -> None:
    with pytest.raises(jsonschema_rs.ValidationError):
        _validate(event_body(recurrence=recurrence), "EventRequest")
