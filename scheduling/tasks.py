"""The engine's one task: fetch the occurrence, run its type's handler, record the outcome.

Its name and queue are ``scheduling.conf.EVENT_TASK_NAME`` and ``EVENT_QUEUE``.

What the task returns (and django-celery-results stores) is only the status
and the ids: reasons, results and tracebacks may quote payload values, so
they live in the occurrence, encrypted at rest. For the same reason the
exception Celery logs for a retry or a failure names the error's type, not
its message.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from celery import Task, shared_task
from django.utils import timezone

from scheduling import metrics, registry
from scheduling.conf import EVENT_TASK_NAME
from scheduling.models import EventStatus, Occurrence
from scheduling.outcomes import PermanentError, SkipOccurrence
from scheduling.resilience import with_db_retries
from scheduling.services import occurrences
from scheduling.services.leases import KeptLease

logger = logging.getLogger(__name__)


class HandlerError(Exception):
    """A handler raised; the traceback is in the occurrence, not in this message."""


@shared_task(
    name=EVENT_TASK_NAME,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # Retries are counted and bounded per event type, on the occurrence.
    max_retries=None,
)
def process_event(self: Task, event_id: str, occurrence_id: str | None = None) -> dict[str, Any]:
    """Run the handler of one occurrence of an event, at most once to success.

    Beat sends ``occurrence_id``; a run started by hand (the admin's "run
    selected tasks") sends only ``event_id`` and gets an occurrence of its own.
    """
    start = with_db_retries(
        lambda: occurrences.begin_occurrence(
            event_id=event_id,
            occurrence_id=occurrence_id,
            task_id=self.request.id,
            now=timezone.now(),
        ),
        what=f"starting occurrence {occurrence_id}",
    )
    if start is None:
        # Unknown event, finished occurrence (a redelivery), or another
        # worker holds it.
        metrics.count_outcome("", "ignored")
        return {"status": "ignored", "event_id": event_id, "occurrence_id": occurrence_id}
    occurrence = start.occurrence
    event_type = occurrence.event.event_type
    metrics.observe_start(occurrence, published=occurrence_id is not None)
    summary = {"event_id": event_id, "occurrence_id": str(occurrence.pk)}
    if start.missed:
        _record(occurrences.miss_occurrence, occurrence, reason=start.missed)
        metrics.count_outcome(event_type, "missed")
        logger.info("occurrence %s reached the worker past its grace: missed", occurrence.pk)
        return {"status": "missed", **summary}
    reason = _reason_to_skip(occurrence)
    if reason is None:
        try:
            with KeptLease(str(occurrence.pk), attempt=occurrence.attempts):
                result = _run_handler(self, occurrence)
        except SkipOccurrence as exc:
            reason = str(exc)
        else:
            _record(occurrences.complete_occurrence, occurrence, result=result)
            metrics.count_outcome(event_type, "succeeded")
            return {"status": "succeeded", **summary}
    _record(occurrences.skip_occurrence, occurrence, reason=reason)
    metrics.count_outcome(event_type, "skipped")
    logger.info("skipped occurrence %s (reason in the occurrence)", occurrence.pk)
    return {"status": "skipped", **summary}


def _reason_to_skip(occurrence: Occurrence) -> str | None:
    # The event as it stood when the occurrence started, read under its row
    # lock: a cancel committed before then is seen here.
    event = occurrence.event
    if event.status == EventStatus.CANCELLED:
        return "event was cancelled"
    if event.status == EventStatus.PAUSED:
        return "event was paused"
    if registry.get(event.event_type) is None:
        return f"no handler for event type {event.event_type!r} in this worker"
    return None


def _run_handler(task: Task, occurrence: Occurrence) -> dict[str, Any]:
    """Call the handler; retry a transient error with backoff, fail a permanent one at once."""
    declared = registry.get(occurrence.event.event_type)
    assert declared is not None
    try:
        return declared.handler(occurrence.event, occurrence)
    except SkipOccurrence:
        raise
    except Exception as exc:  # noqa: BLE001 - any handler error is retried, then fails
        permanent = isinstance(exc, (PermanentError, *declared.permanent_errors))
        error = str(exc) if isinstance(exc, PermanentError) else _traceback(exc)
        told = HandlerError(
            f"{type(exc).__name__} in the {occurrence.event.event_type} handler "
            f"(attempt {occurrence.attempts}); details in occurrence {occurrence.pk}"
        )
        # Counted on the occurrence, not on the message: a message published
        # again after a lost worker starts Celery's count from zero.
        if not permanent and occurrence.attempts <= declared.retries():
            countdown = declared.retry_countdown(occurrence.attempts - 1)
            _record(occurrences.retry_later, occurrence, error=error, countdown=countdown)
            metrics.count_outcome(occurrence.event.event_type, "retrying")
            raise task.retry(exc=told, countdown=countdown) from None
        _record(occurrences.fail_occurrence, occurrence, error=error)
        metrics.count_outcome(occurrence.event.event_type, "failed")
        raise told from None


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _record(write: Any, occurrence: Occurrence, **arguments: Any) -> None:
    """Record an outcome, riding out a database blip.

    If the database stays away, the outcome is lost but not the firing: the
    occurrence keeps its lease, which lapses, and beat publishes it again.
    """
    try:
        with_db_retries(
            lambda: write(occurrence, now=timezone.now(), **arguments),
            what=f"recording occurrence {occurrence.pk}",
        )
    except Exception:
        logger.exception(
            "outcome of occurrence %s not recorded; it runs again when its lease lapses",
            occurrence.pk,
        )
