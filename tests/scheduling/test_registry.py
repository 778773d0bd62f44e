"""Event types: declared once beside their handler, with their policies; others refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from scheduling import EventValidationError, registry, schedule_event
from scheduling.misfire import grace_for
from scheduling.models import Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.registry import RegistrationError, event_type
from scheduling.services.occurrences import claim_due_occurrences
from scheduling.tasks import process_event
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice_due() -> Any:
    """A type declared by a project of its own, as an adopter would."""
    handled: list[str] = []

    @event_type("INVOICE_DUE", misfire_grace=timedelta(hours=1), max_retries=3)
    def remind(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        handled.append(event.payload["invoice"])
        return {"reminded": event.payload["invoice"]}

    yield handled
    registry.unregister("INVOICE_DUE")


def test_the_built_in_and_backend_types_are_registered_at_start() -> None:
    assert {
        "APPOINTMENT_FOLLOW_UP",
        "APPOINTMENT_REMINDER",
        "BUSINESS_RULE",
        "DATA_CLEANUP",
        "REPORT_GENERATION",
    } <= set(registry.names())


def test_a_declared_type_is_scheduled_and_handled(invoice_due) -> None:
    event = schedule_event(
        **event_kwargs(
            event_type="INVOICE_DUE",
            entity_id="inv-7",
            scheduled_time=timezone.now() - timedelta(seconds=1),
            payload={"invoice": "inv-7"},
        )
    )
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    process_event.apply(kwargs={"event_id": str(event.id), "occurrence_id": dispatch.occurrence_id})
    assert invoice_due == ["inv-7"]
    assert Occurrence.objects.get().status == OccurrenceStatus.SUCCEEDED


def test_its_policies_are_those_declared(invoice_due, settings) -> None:
    declared = registry.get("INVOICE_DUE")
    assert declared is not None
    assert (declared.grace(), declared.retries()) == (timedelta(hours=1), 3)
    # A deployment may still override the grace.
    settings.SCHEDULING_MISFIRE_GRACE_SECONDS = {"INVOICE_DUE": 60}
    assert grace_for("INVOICE_DUE") == timedelta(minutes=1)


def test_an_unregistered_type_is_refused_naming_the_registered_ones() -> None:
    with pytest.raises(EventValidationError) as refused:
        schedule_event(**event_kwargs(event_type="INVOICE_DUE"))
    [message] = refused.value.message_dict["event_type"]
    assert "unknown event type: 'INVOICE_DUE'" in message
    assert "registered: APPOINTMENT_FOLLOW_UP, APPOINTMENT_REMINDER" in message
    assert not ScheduledEvent.objects.exists()


def test_the_http_api_accepts_a_declared_type(invoice_due) -> None:
    from scheduling.services.api_keys import create_api_key
    from tests.api.conftest import ApiClient

    client = ApiClient("billing", create_api_key(service_id="billing")[1])
    response = client.post(
        "/api/events/schedule",
        {
            "type": "INVOICE_DUE",
            "entity_id": "inv-8",
            "scheduled_time": "2026-12-24T09:00:00+01:00",
            "timezone_context": {"resource_timezone": "Europe/Paris", "user_timezone": "UTC"},
            "payload": {"invoice": "inv-8"},
        },
    )
    assert response.status_code == 201, response.content


def test_a_name_declared_twice_by_two_handlers_is_an_error(invoice_due) -> None:
    with pytest.raises(RegistrationError, match="already declared"):

        @event_type("INVOICE_DUE", misfire_grace=None)
        def other(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
            return {}


@pytest.mark.parametrize("name", ["invoice_due", "1ST", "A" * 65, "WITH SPACE"])
def test_a_malformed_name_is_an_error(name) -> None:
    with pytest.raises(RegistrationError):
        event_type(name, misfire_grace=None)


def test_the_grace_must_be_said() -> None:
    with pytest.raises(RegistrationError, match="misfire_grace"):
        event_type("INVOICE_DUE")  # type: ignore[call-arg]
