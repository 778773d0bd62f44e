"""Controls over a schedule: pause and resume, per-event policies, backfill.

Like every write, each runs in one transaction with its audit entry, and
each is a claim on the event's status (an ``update()`` whose row count says
who won), so two concurrent callers never both act.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from scheduling import audit, calendar, policies
from scheduling.exceptions import EventValidationError
from scheduling.models import (
    AuditAction,
    CatchUp,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    Overlap,
    ScheduledEvent,
    Trigger,
    occurrence_task_id,
)
from scheduling.recurrence import iter_fires
from scheduling.registry import MAX_JITTER
from scheduling.services import leases, occurrences
from scheduling.services.occurrences import Dispatch
from scheduling.services.publishing import publish
from scheduling.validation import require_event_uuid

# --- Pause and resume ----------------------------------------------------------------


@transaction.atomic
def pause_event(event_id: uuid.UUID | str) -> ScheduledEvent:
    """Pause a scheduled event: it fires nothing until resumed; its history stays.

    Its beat row is disabled (the periodic-task editor shows it so) and
    ``next_run_at`` cleared. A firing already claimed is skipped by the
    worker ("event was paused"); one already running runs to its end. Raise
    ScheduledEvent.DoesNotExist if no scheduled event has this id.
    """
    pk = require_event_uuid(event_id)
    now = timezone.now()
    if not ScheduledEvent.objects.filter(pk=pk, status=EventStatus.SCHEDULED).update(
        status=EventStatus.PAUSED, next_run_at=None, paused_at=now, updated_at=now
    ):
        raise ScheduledEvent.DoesNotExist(f"no scheduled event {pk}")
    event = ScheduledEvent.objects.select_related("periodic_task").get(pk=pk)
    if event.periodic_task is not None:
        _set_enabled(event, enabled=False)
    audit.record(AuditAction.PAUSE, pk)
    return event


@transaction.atomic
def resume_event(event_id: uuid.UUID | str) -> ScheduledEvent:
    """Resume a paused event; return it.

    A one-off fires at its time, or at once if that passed while it was
    paused, subject to its misfire grace. A recurring event with catch-up
    "skip" continues at its next slot after now; with "latest" or "each" the
    slots missed while paused are due, and beat catches them up by that
    policy. Raise ScheduledEvent.DoesNotExist if no paused event has this id,
    and EventValidationError if another scheduled event of the same type and
    entity took its time meanwhile.
    """
    pk = require_event_uuid(event_id)
    event = (
        ScheduledEvent.objects.select_for_update(of=("self",))
        .select_related("periodic_task__crontab", "periodic_task__clocked")
        .get(pk=pk, status=EventStatus.PAUSED)
    )
    now = timezone.now()
    if event.periodic_task is not None:
        _set_enabled(event, enabled=True)
    event.next_run_at = calendar.next_run_from_beat_row(event, after=_resume_after(event, now))
    event.status, event.paused_at, event.updated_at = EventStatus.SCHEDULED, None, now
    try:
        with transaction.atomic():
            event.save(update_fields=["status", "next_run_at", "paused_at", "updated_at"])
    except IntegrityError:
        raise EventValidationError(
            {"event_id": "another scheduled event of this type and entity has its time now"}
        ) from None
    audit.record(
        AuditAction.RESUME,
        pk,
        next_run_at=event.next_run_at.isoformat() if event.next_run_at else None,
    )
    return event


def _resume_after(event: ScheduledEvent, now: datetime) -> datetime:
    """The instant after which the resumed event's next firing is looked for."""
    if not event.is_recurring or policies.catch_up(event) == CatchUp.SKIP:
        return now - timedelta(microseconds=1)
    return occurrences.after_last_firing(event, event.paused_at or now)


def _set_enabled(event: ScheduledEvent, *, enabled: bool) -> None:
    # update(), not save(): no PeriodicTasks bump (see scheduling.services.beat_rows).
    assert event.periodic_task is not None
    type(event.periodic_task).objects.filter(pk=event.periodic_task.pk).update(enabled=enabled)
    event.periodic_task.enabled = enabled


# --- Per-event policies --------------------------------------------------------------

# Unset: the field keeps its value. None: back to the event type's.
_KEEP: Any = object()


@transaction.atomic
def set_event_controls(
    event_id: uuid.UUID | str,
    *,
    misfire_grace_seconds: int | None = _KEEP,
    catch_up: str | None = _KEEP,
    jitter_seconds: int | None = _KEEP,
    overlap: str | None = _KEEP,
) -> ScheduledEvent:
    """Override the event type's controls for one event (None: back to the type's).

    A new jitter moves ``next_run_at`` by the change of offset. Raise
    EventValidationError, changing nothing, naming each bad value, and
    ScheduledEvent.DoesNotExist if no scheduled or paused event has this id.
    """
    pk = require_event_uuid(event_id)
    event = ScheduledEvent.objects.select_for_update(of=("self",)).get(
        pk=pk, status__in=[EventStatus.SCHEDULED, EventStatus.PAUSED]
    )
    changes = check_controls(
        misfire_grace_seconds=misfire_grace_seconds,
        catch_up=catch_up,
        jitter_seconds=jitter_seconds,
        overlap=overlap,
    )
    if not changes:
        return event
    old_offset = policies.jitter_offset(event)
    for name, value in changes.items():
        setattr(event, name, value)
    if event.next_run_at is not None:
        event.next_run_at += policies.jitter_offset(event) - old_offset
    event.updated_at = timezone.now()
    event.save(update_fields=[*changes, "next_run_at", "updated_at"])
    audit.record(AuditAction.RESCHEDULE, pk, fields=sorted(changes), controls=changes)
    return event


def check_controls(**given: Any) -> dict[str, Any]:
    """The controls given (``_KEEP`` left out), as stored; raise EventValidationError."""
    changes = {name: value for name, value in given.items() if value is not _KEEP}
    errors = {name: e for name, value in changes.items() if (e := _control_error(name, value))}
    if errors:
        raise EventValidationError(errors)
    # None: the type's, which the text columns store as "" (CharField, not NULL).
    return {
        name: _TYPES_DEFAULT[name] if value is None else value for name, value in changes.items()
    }


_TYPES_DEFAULT = {
    "misfire_grace_seconds": None,
    "catch_up": "",
    "jitter_seconds": None,
    "overlap": "",
}


def _control_error(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name in ("misfire_grace_seconds", "jitter_seconds"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return "must be a whole number of seconds, 0 or more, or null for the type's"
        if name == "jitter_seconds" and value > MAX_JITTER.total_seconds():
            return f"must be at most {int(MAX_JITTER.total_seconds())} seconds"
        if name == "misfire_grace_seconds" and value > 366 * 86400:
            return "must be at most a year (31622400 seconds); null runs however late"
        return None
    choices = CatchUp.values if name == "catch_up" else Overlap.values
    if value not in choices:
        return f"must be one of {', '.join(choices)}, or null for the type's"
    return None


# --- Backfill ------------------------------------------------------------------------


@dataclass(frozen=True)
class Backfill:
    """What ``backfill_events`` did: slots fired, and slots already fired before."""

    fired: int
    already: int


def backfill_events(
    events: QuerySet[ScheduledEvent],
    *,
    since: datetime,
    until: datetime,
    max_per_event: int = 1000,
) -> Backfill:
    """Fire once each slot of these events in ``[since, until]`` that has not run.

    A slot never claimed (passed over by catch-up) gets an occurrence; one
    recorded as missed is claimed again. Both are recorded as backfilled,
    run whatever their grace, and published; a slot that has run, or is
    running, is left alone, so a second backfill of the same window fires
    nothing more. Scheduled events, and one-offs recorded as missed (which
    are scheduled again until the backfilled firing settles them); a paused
    event fires nothing. The regular schedule (``next_run_at``, the count of
    firings) is unchanged.
    """
    now = timezone.now()
    fired: list[Dispatch] = []
    already = 0
    for event in events.filter(
        status__in=[EventStatus.SCHEDULED, EventStatus.MISSED]
    ).select_related("periodic_task__crontab", "periodic_task__clocked"):
        slots = list(_slots(event, since=since, until=min(until, now), limit=max_per_event))
        with transaction.atomic():
            dispatches = _claim_slots(event, slots, now=now)
            if dispatches and event.status == EventStatus.MISSED:
                ScheduledEvent.objects.filter(pk=event.pk, status=EventStatus.MISSED).update(
                    status=EventStatus.SCHEDULED, updated_at=now
                )
            if dispatches:
                audit.record(
                    AuditAction.BACKFILL,
                    event.pk,
                    fired=len(dispatches),
                    since=since.isoformat(),
                    until=until.isoformat(),
                )
        fired += dispatches
        already += len(slots) - len(dispatches)
    publish(fired, app=current_app)
    return Backfill(fired=len(fired), already=already)


def _slots(
    event: ScheduledEvent, *, since: datetime, until: datetime, limit: int
) -> Iterable[datetime]:
    """The event's firing instants (slot plus jitter) in ``[since, until]``."""
    offset = policies.jitter_offset(event)
    task = event.periodic_task
    if not event.is_recurring:
        due = event.scheduled_time + offset
        return [due] if since <= due <= until else []
    if task is None or task.crontab is None:
        return []
    crontab = task.crontab
    fires = iter_fires(
        calendar.cron_pattern(crontab),
        str(crontab.timezone),
        after=since - offset - timedelta(microseconds=1),
        rule=calendar.event_rule(event),
        fired=0,
    )
    found: list[datetime] = []
    for slot in fires:
        if slot + offset > until or len(found) >= limit:
            break
        found.append(slot + offset)
    return found


def _claim_slots(event: ScheduledEvent, slots: list[datetime], *, now: datetime) -> list[Dispatch]:
    """Claim the slots not run yet: new occurrences, or missed ones taken again."""
    existing = dict(
        Occurrence.objects.filter(event=event, scheduled_for__in=slots).values_list(
            "scheduled_for", "status"
        )
    )
    new = [
        Occurrence(
            event=event,
            scheduled_for=slot,
            task_id=occurrence_task_id(event.id, slot.isoformat()),
            trigger=Trigger.BACKFILL,
            status=OccurrenceStatus.CLAIMED,
            claimed_at=now,
            lease_expires_at=now + leases.CLAIM_LEASE,
        )
        for slot in slots
        if slot not in existing
    ]
    Occurrence.objects.bulk_create(new, ignore_conflicts=True)
    missed = [slot for slot, status in existing.items() if status == OccurrenceStatus.MISSED]
    Occurrence.objects.filter(
        event=event, scheduled_for__in=missed, status=OccurrenceStatus.MISSED
    ).update(
        status=OccurrenceStatus.CLAIMED,
        trigger=Trigger.BACKFILL,
        error=None,
        finished_at=None,
        claimed_at=now,
        lease_expires_at=now + leases.CLAIM_LEASE,
    )
    claimed = Occurrence.objects.filter(
        event=event,
        scheduled_for__in=slots,
        trigger=Trigger.BACKFILL,
        status=OccurrenceStatus.CLAIMED,
        claimed_at=now,
    ).values_list("pk", "task_id")
    return [Dispatch(str(event.pk), str(pk), task_id) for pk, task_id in claimed]
