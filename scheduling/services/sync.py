"""Follow edits of beat rows (the admin's periodic-task editor) back to events."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from scheduling import audit, calendar
from scheduling.models import AuditAction, EventStatus, ScheduledEvent


def follow_beat_rows(events: QuerySet[ScheduledEvent], *, now: datetime) -> int:
    """Recompute ``next_run_at`` of scheduled events from their beat rows.

    Called after a PeriodicTask, ClockedSchedule or CrontabSchedule was saved
    by someone other than this app: a new clocked time, crontab or enabled
    flag changes when the event fires. Return how many events changed.
    """
    changed = 0
    # Not the payloads: the calendar never reads them, and decrypting each
    # would cost a Fernet call per event (and let one unreadable payload
    # stop the edit of a crontab that thousands share).
    pending = (
        events.filter(status=EventStatus.SCHEDULED)
        .select_related("periodic_task__crontab", "periodic_task__clocked")
        .defer("payload")
    )
    for event in pending:
        # A moved clock fires at its new instant, even a past one (then at once).
        next_run_at = calendar.next_run_from_beat_row(event, after=now)
        if next_run_at != event.next_run_at and ScheduledEvent.objects.filter(
            pk=event.pk, status=EventStatus.SCHEDULED
        ).update(next_run_at=next_run_at, updated_at=now):
            changed += 1
            audit.record(
                AuditAction.RESCHEDULE,
                event.pk,
                via="beat row",
                next_run_at=next_run_at.isoformat() if next_run_at else None,
            )
    return changed


def cancel_for_deleted_beat_row(events: QuerySet[ScheduledEvent], *, now: datetime) -> int:
    """The beat row of these events is being deleted: they can no longer fire."""
    ids = list(events.filter(status=EventStatus.SCHEDULED).values_list("pk", flat=True))
    cancelled = ScheduledEvent.objects.filter(pk__in=ids, status=EventStatus.SCHEDULED).update(
        status=EventStatus.CANCELLED, next_run_at=None, updated_at=now
    )
    audit.record_many(AuditAction.CANCEL, ((pk, {"via": "beat row deleted"}) for pk in ids))
    return cancelled
