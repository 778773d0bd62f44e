"""backend.process_event: dispatch by type, at most one success, retries, failures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from scheduling import cancel_event, registry, schedule_event
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.services.occurrences import claim_due_occurrences
from scheduling.tasks import process_event
from tests.conftest import event_kwargs, recorded, replace_handler

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Replace the reminder handler by one that records its calls."""
    seen: list[tuple[str, str]] = []

    def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        seen.append((str(event.id), str(occurrence.pk)))
        return {"handled": True}

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", handle)
    return seen


def claimed(**overrides: Any) -> tuple[ScheduledEvent, dict[str, str]]:
    """A due event claimed by beat; returns it and the kwargs beat would send."""
    when = timezone.now() - timedelta(seconds=1)
    event = schedule_event(**event_kwargs(scheduled_time=when, **overrides))
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    return event, {"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}


def test_it_runs_the_handler_for_the_type_and_records_success(calls) -> None:
    event, kwargs = claimed()
    outcome = process_event.apply(kwargs=kwargs).get()

    assert outcome["status"] == "succeeded"
    assert recorded(outcome).result == {"handled": True}
    assert calls == [(kwargs["event_id"], kwargs["occurrence_id"])]
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert (occurrence.status, occurrence.attempts) == (OccurrenceStatus.SUCCEEDED, 1)
    assert occurrence.result == {"handled": True}
    assert occurrence.finished_at is not None
    event.refresh_from_db()
    assert event.status == EventStatus.COMPLETED


def test_a_second_delivery_of_a_finished_occurrence_does_nothing(calls) -> None:
    _, kwargs = claimed()
    process_event.apply(kwargs=kwargs)
    again = process_event.apply(kwargs=kwargs).get()
    assert again["status"] == "ignored"
    assert len(calls) == 1


def test_an_event_type_without_a_handler_is_skipped_not_crashed(monkeypatch) -> None:
    _, kwargs = claimed()
    # This worker does not know the type (an app not installed here).
    monkeypatch.delitem(registry._TYPES, "APPOINTMENT_REMINDER")
    outcome = process_event.apply(kwargs=kwargs).get()
    assert outcome["status"] == "skipped"
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert occurrence.status == OccurrenceStatus.SKIPPED
    assert "no handler" in occurrence.error


def test_a_cancelled_event_already_in_flight_is_skipped(calls) -> None:
    event, kwargs = claimed()
    ScheduledEvent.objects.filter(pk=event.pk).update(next_run_at=event.scheduled_time)
    cancel_event(event.id)
    assert process_event.apply(kwargs=kwargs).get()["status"] == "skipped"
    assert calls == []


def test_a_payload_the_handler_cannot_use_fails_at_once_with_the_reason() -> None:
    _, kwargs = claimed(payload={"appointment_id": "a"})
    result = process_event.apply(kwargs=kwargs)
    assert result.failed()
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert (occurrence.status, occurrence.attempts) == (OccurrenceStatus.FAILED, 1)
    assert occurrence.error == "payload lacks reminder_type, start_time"


@pytest.mark.parametrize(
    ("appointment_id", "reason"),
    [
        ("appt-7f3a", "the payload's appointment_id is not an appointment id"),
        ("99999", "the payload's appointment_id names no appointment"),
        ("9" * 40, "the payload's appointment_id is not an appointment id"),
    ],
)
def test_an_appointment_id_that_names_nothing_is_never_retried(appointment_id, reason) -> None:
    payload = {"appointment_id": appointment_id, "reminder_type": "2_hour_reminder"}
    _, kwargs = claimed(payload={**payload, "start_time": "2026-12-02T09:00:00+00:00"})
    assert process_event.apply(kwargs=kwargs).failed()
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert (occurrence.status, occurrence.attempts, occurrence.error) == ("failed", 1, reason)


def test_a_type_may_declare_its_own_permanent_errors(monkeypatch) -> None:
    import dataclasses

    def picky(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        raise KeyError("missing")

    declared = registry.get("APPOINTMENT_REMINDER")
    assert declared is not None
    monkeypatch.setitem(
        registry._TYPES,
        "APPOINTMENT_REMINDER",
        dataclasses.replace(declared, handler=picky, permanent_errors=(KeyError,)),
    )
    _, kwargs = claimed()
    assert process_event.apply(kwargs=kwargs).failed()
    assert Occurrence.objects.get(pk=kwargs["occurrence_id"]).attempts == 1


def test_a_failing_handler_is_retried_then_the_occurrence_fails(monkeypatch) -> None:
    def broken(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        raise RuntimeError("mail server down")

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", broken)
    event, kwargs = claimed()
    result = process_event.apply(kwargs=kwargs)

    assert result.failed()
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert occurrence.status == OccurrenceStatus.FAILED
    reminder = registry.get("APPOINTMENT_REMINDER")
    assert reminder is not None
    assert occurrence.attempts == reminder.retries() + 1
    assert "mail server down" in occurrence.error
    event.refresh_from_db()
    assert event.status == EventStatus.FAILED


def test_a_handler_that_fails_once_succeeds_on_retry(monkeypatch) -> None:
    attempts: list[int] = []

    def flaky(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("blip")
        return {"ok": True}

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", flaky)
    _, kwargs = claimed()
    process_event.apply(kwargs=kwargs)
    occurrence = Occurrence.objects.get(pk=kwargs["occurrence_id"])
    assert (occurrence.status, occurrence.attempts) == (OccurrenceStatus.SUCCEEDED, 2)


def test_a_manual_run_without_occurrence_records_one(calls) -> None:
    event = schedule_event(**event_kwargs())
    outcome = process_event.apply(kwargs={"event_id": str(event.id)}).get()
    assert outcome["status"] == "succeeded"
    assert Occurrence.objects.filter(event=event).count() == 1


def test_an_unknown_event_id_is_not_an_error() -> None:
    outcome = process_event.apply(kwargs={"event_id": "6f1c3c1e-0000-4000-8000-000000000000"})
    assert outcome.get()["status"] == "ignored"


def test_retry_backoff_doubles_up_to_the_cap(settings) -> None:
    settings.SCHEDULING_RETRY_BACKOFF_SECONDS = 10
    settings.SCHEDULING_RETRY_BACKOFF_MAX_SECONDS = 60
    reminder = registry.get("APPOINTMENT_REMINDER")
    assert reminder is not None
    assert [reminder.retry_countdown(n) for n in range(5)] == [10, 20, 40, 60, 60]


# --- No payload value in plaintext (issue 10 #8) -----------------------------------

MARKER = "secret-value-7d2e"


def raw_occurrence_columns() -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT error, result FROM scheduling_occurrence")
        return [str(value) for row in cursor.fetchall() for value in row]


def test_a_failure_reason_names_the_field_not_its_value(caplog) -> None:
    event = schedule_event(
        **event_kwargs(
            event_type="BUSINESS_RULE",
            scheduled_time=timezone.now() - timedelta(seconds=1),
            payload={"rule_id": MARKER},
        )
    )
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    result = process_event.apply(
        kwargs={"event_id": str(event.id), "occurrence_id": dispatch.occurrence_id}
    )
    assert result.failed()
    occurrence = Occurrence.objects.get(pk=dispatch.occurrence_id)
    assert occurrence.error == "the payload's rule_id names no known rule"
    assert MARKER not in str(result.result)
    assert MARKER not in caplog.text


def test_a_failing_handler_quoting_the_payload_leaves_it_only_encrypted(
    monkeypatch, caplog
) -> None:
    def broken(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        raise ValueError(f"cannot parse {event.payload['note']!r}")

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", broken)
    _, kwargs = claimed(
        payload={"appointment_id": "a", "reminder_type": "24_hour_reminder", "note": MARKER}
    )
    result = process_event.apply(kwargs=kwargs)

    assert result.failed()
    assert MARKER not in str(result.result)  # what Celery stores and logs
    assert MARKER not in caplog.text
    assert all(MARKER not in column for column in raw_occurrence_columns())
    # The whole traceback is kept, decrypted for whoever reads the occurrence.
    assert MARKER in Occurrence.objects.get(pk=kwargs["occurrence_id"]).error
