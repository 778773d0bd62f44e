"""DATA_CLEANUP deletes run history older than days_to_keep, nothing newer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_celery_results.models import TaskResult

from handlers.models import Appointment, Notification
from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from scheduling.services.occurrences import purge_history
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


def test_history_goes_in_batches_that_read_only_ids(django_user_model) -> None:
    # Each old firing sent a notification (the handlers' rows go with it):
    # Django's delete collects such rows, and once read and decrypted every
    # purgeable occurrence in one go.
    cleanup = cleanup_event(days_to_keep=30)
    user = django_user_model.objects.create_user("patient")
    start = timezone.now() - timedelta(days=60)
    appointment = Appointment.objects.create(
        title="x",
        resource="room-1",
        start_time=start,
        end_time=start + timedelta(minutes=20),
        resource_timezone="UTC",
        user_timezone="UTC",
    )
    for days in range(31, 36):
        Notification.objects.create(
            occurrence=old_history(cleanup, age=timedelta(days=days)),
            user=user,
            appointment=appointment,
            kind="REMINDER_24H",
            subject="s",
            body="b",
        )
    kept = old_history(cleanup, age=timedelta(days=10))

    with CaptureQueriesContext(connection) as captured:
        deleted = purge_history(older_than=timezone.now() - timedelta(days=30), batch_size=2)

    # Occurrences counted, not the notifications that went with them.
    assert deleted == {"occurrences_deleted": 5, "task_results_deleted": 5}
    assert list(Occurrence.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not Notification.objects.exists()
    sql = [q["sql"] for q in captured.captured_queries]
    reads = [q for q in sql if q.startswith("SELECT") and 'FROM "scheduling_occurrence"' in q]
    assert reads
    assert not [q for q in reads if '"result"' in q or '"error"' in q]
    deletes = [q for q in sql if q.startswith('DELETE FROM "scheduling_occurrence"')]
    assert len(deletes) == 3  # 2 + 2 + 1
