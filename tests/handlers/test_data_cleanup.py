"""DATA_CLEANUP deletes run history older than days_to_keep, nothing newer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_results.models import TaskResult

from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from scheduling.tasks import process_event
from tests.conftest import event_kwargs, recorded

pytestmark = pytest.mark.django_db


def old_history(event, *, age: timedelta, status: str = OccurrenceStatus.SUCCEEDED) -> Occurrence:
    when = timezone.now() - age
    occurrence = Occurrence.objects.create(
        event=event,
        scheduled_for=when,
        task_id=f"t-{age.days}-{status}",
        status=status,
        claimed_at=when,
        finished_at=when if status == OccurrenceStatus.SUCCEEDED else None,
    )
    result = TaskResult.objects.create(task_id=f"r-{age.days}-{status}", status="SUCCESS")
    TaskResult.objects.filter(pk=result.pk).update(date_done=when)
    return occurrence


def cleanup_event(**payload):
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id="system",
            payload=payload,
            recurrence={"frequency": "DAILY"},
        )
    )


def test_it_deletes_finished_history_older_than_days_to_keep() -> None:
    cleanup = cleanup_event(days_to_keep=30)
    old = old_history(cleanup, age=timedelta(days=31))
    recent = old_history(cleanup, age=timedelta(days=29))
    in_flight = old_history(cleanup, age=timedelta(days=40), status=OccurrenceStatus.CLAIMED)

    outcome = process_event.apply(kwargs={"event_id": str(cleanup.id)}).get()

    assert outcome["status"] == "succeeded"
    assert recorded(outcome).result["occurrences_deleted"] == 1
    assert recorded(outcome).result["task_results_deleted"] == 2
    remaining = set(Occurrence.objects.values_list("pk", flat=True))
    assert old.pk not in remaining
    assert {recent.pk, in_flight.pk} <= remaining
    assert TaskResult.objects.filter(task_id="r-29-succeeded").exists()


def test_days_to_keep_defaults_to_90() -> None:
    cleanup = cleanup_event()
    kept = old_history(cleanup, age=timedelta(days=89))
    gone = old_history(cleanup, age=timedelta(days=91))
    process_event.apply(kwargs={"event_id": str(cleanup.id)})
    remaining = set(Occurrence.objects.values_list("pk", flat=True))
    assert kept.pk in remaining
    assert gone.pk not in remaining


def test_a_nonsense_days_to_keep_fails_at_once_and_deletes_nothing() -> None:
    cleanup = cleanup_event(days_to_keep=0)
    old = old_history(cleanup, age=timedelta(days=400))
    result = process_event.apply(kwargs={"event_id": str(cleanup.id)})
    assert result.failed()
    assert Occurrence.objects.filter(pk=old.pk).exists()
    run = Occurrence.objects.exclude(pk=old.pk).get()
    # A permanent error: one attempt, never retried, the field named.
    assert (run.status, run.attempts) == ("failed", 1)
    assert run.error == "the payload's days_to_keep must be a positive integer"
