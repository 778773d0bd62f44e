"""``backend.process_event``: fetch the occurrence, run its handler, record the outcome."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from handlers.errors import SkipOccurrence
from handlers.registry import get_handler
from scheduling.models import EventStatus, Occurrence
from scheduling.services import occurrences

logger = logging.getLogger(__name__)


def retry_countdown(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: doubling, capped."""
    base = settings.SCHEDULING_RETRY_BACKOFF_SECONDS
    return int(min(settings.SCHEDULING_RETRY_BACKOFF_MAX_SECONDS, base * 2**retries))


@shared_task(
    name="backend.process_event",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=settings.SCHEDULING_TASK_MAX_RETRIES,
)
def process_event(self: Task, event_id: str, occurrence_id: str | None = None) -> dict[str, Any]:
    """Run the handler of one occurrence of an event, at most once to success.

    Beat sends ``occurrence_id``; a run started by hand (the admin's "run
    selected tasks") sends only ``event_id`` and gets an occurrence of its own.
    """
    occurrence = occurrences.begin_occurrence(
        event_id=event_id, occurrence_id=occurrence_id, task_id=self.request.id, now=timezone.now()
    )
    if occurrence is None:
        # Unknown event, or this occurrence already finished (a redelivery).
        return {"status": "ignored", "event_id": event_id, "occurrence_id": occurrence_id}
    summary = {"event_id": event_id, "occurrence_id": str(occurrence.pk)}
    reason = _reason_to_skip(occurrence)
    if reason is None:
        try:
            result = _run_handler(self, occurrence)
        except SkipOccurrence as exc:
            reason = str(exc)
        else:
            occurrences.complete_occurrence(occurrence, result=result, now=timezone.now())
            return {"status": "succeeded", **summary, "result": result}
    occurrences.skip_occurrence(occurrence, reason=reason, now=timezone.now())
    logger.info("skipped occurrence %s: %s", occurrence.pk, reason)
    return {"status": "skipped", **summary, "reason": reason}


def _reason_to_skip(occurrence: Occurrence) -> str | None:
    event = occurrence.event
    if event.status == EventStatus.CANCELLED:
        return "event was cancelled"
    if get_handler(event.event_type) is None:
        return f"no handler for event type {event.event_type!r}"
    return None


def _run_handler(task: Task, occurrence: Occurrence) -> dict[str, Any]:
    """Call the handler; retry with backoff on error, fail the occurrence at the end."""
    handler = get_handler(occurrence.event.event_type)
    assert handler is not None
    try:
        return handler(occurrence.event, occurrence)
    except SkipOccurrence:
        raise
    except Exception as exc:
        error = "".join(traceback.format_exception(exc))
        if task.request.retries < task.max_retries:
            occurrences.record_attempt_error(occurrence, error=error)
            raise task.retry(exc=exc, countdown=retry_countdown(task.request.retries)) from exc
        occurrences.fail_occurrence(occurrence, error=error, now=timezone.now())
        raise
