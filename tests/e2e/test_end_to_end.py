"""Schedule → real beat → real worker → handler, on the configured database and broker."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_results.models import TaskResult

from scheduling import cancel_event, schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from tests.conftest import event_kwargs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def cleanup_in(seconds: float, entity_id: str):
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id=entity_id,
            scheduled_time=timezone.now() + timedelta(seconds=seconds),
            payload={"days_to_keep": 30},
        )
    )


def succeeded(event) -> Occurrence | None:
    return Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).first()


def test_a_one_off_fires_once_through_beat_and_worker(live_system, wait_for) -> None:
    old_result = TaskResult.objects.create(task_id="ancient", status="SUCCESS")
    TaskResult.objects.filter(pk=old_result.pk).update(
        date_done=timezone.now() - timedelta(days=31)
    )
    event = cleanup_in(3, "cleanup-e2e")

    occurrence = wait_for(lambda: succeeded(event), what="the handler to succeed")
    result = wait_for(
        lambda: TaskResult.objects.filter(task_id=occurrence.task_id, status="SUCCESS").first(),
        what="the task result",
    )

    assert occurrence.scheduled_for == event.scheduled_time
    assert occurrence.result["task_results_deleted"] == 1  # the handler's real effect
    assert not TaskResult.objects.filter(task_id="ancient").exists()
    assert result.task_name == "backend.process_event"
    # A few more beat ticks (poll 0.2 s) must not fire it again.
    time.sleep(1.0)
    assert Occurrence.objects.filter(event=event).count() == 1
    assert Occurrence.objects.get(event=event).attempts == 1
    assert TaskResult.objects.filter(task_name="backend.process_event").count() == 1
    assert PeriodicTask.objects.get(pk=event.periodic_task_id).enabled is False


def test_a_cancelled_event_never_runs(live_system, wait_for) -> None:
    cancelled = cleanup_in(1, "cleanup-cancelled")
    sentinel = cleanup_in(3, "cleanup-sentinel")
    assert cancel_event(cancelled.id)

    wait_for(lambda: succeeded(sentinel), what="the sentinel event to run")

    assert not Occurrence.objects.filter(event=cancelled).exists()
