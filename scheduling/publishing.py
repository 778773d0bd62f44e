"""Publish ``backend.process_event`` for claimed occurrences (beat, and the admin's retry)."""

from __future__ import annotations

from celery import Celery
from django.utils import timezone
from kombu import Producer

from scheduling.services import occurrences
from scheduling.services.beat_rows import EVENT_QUEUE, EVENT_TASK_NAME


def publish(
    dispatches: list[occurrences.Dispatch], *, app: Celery, producer: Producer | None = None
) -> None:
    """Send each occurrence to the worker, with its own task id, and mark it sent."""
    if not dispatches:
        return
    with app.producer_or_acquire(producer) as active:
        for dispatch in dispatches:
            app.send_task(
                EVENT_TASK_NAME,
                kwargs={"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id},
                task_id=dispatch.task_id,
                queue=EVENT_QUEUE,
                producer=active,
            )
    occurrences.mark_sent(dispatches, now=timezone.now())
