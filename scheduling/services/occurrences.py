"""Occurrences: beat claims them, the worker runs them, the clean-up purges them.

The life of one firing::

    claimed ──(beat published it)──▶ sent ──▶ running ──▶ succeeded
                                        ▲       │  │ ╰──▶ failed   (retries exhausted)
                                        │       │  ╰────▶ skipped  (cancelled, no handler, stale)
                                        │       ╰──▶ retrying ──▶ running (after its backoff)
                                        ╰── (lease lapsed: beat published it again)

    claimed / sent ──▶ missed  (reached beat or a worker later than its grace)

Every transition is a conditional ``update()`` whose row count says whether
this caller won, so two beats or a redelivered message never run a
finished occurrence again. Each unfinished state has a lease
(``scheduling.services.leases``) after which beat publishes it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, QuerySet
from django_celery_beat.models import ClockedSchedule, PeriodicTask
from django_celery_results.models import TaskResult

from scheduling import audit, bulk_insert, calendar, policies, random_ids
from scheduling.index_order import read_in_index_order
from scheduling.lookups import AnyOf
from scheduling.misfire import lateness_beyond_grace
from scheduling.models import (
    FINAL_OCCURRENCE_STATUSES,
    AuditAction,
    EventStatus,
    FiredBeatRows,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    Trigger,
    occurrence_task_id,
)
from scheduling.services import leases

# bulk_update builds one CASE expression per batch; SQLite caps its depth.
_UPDATE_BATCH = 100


@dataclass(frozen=True)
class Dispatch:
    """What beat must publish for one claimed occurrence."""

    event_id: str
    occurrence_id: str
    task_id: str
    # When it was due: set by claims, for the publish-lag metric.
    scheduled_for: datetime | None = None


# --- Beat side -------------------------------------------------------------------


def claim_due_occurrences(
    *, now: datetime, limit: int, archive_later: bool = False
) -> list[Dispatch]:
    """Claim up to ``limit`` due firings and advance their events; return them.

    Committed before anything is published: a crash after this leaves
    ``claimed`` rows whose lease lapses and beat publishes them, never a lost
    or doubled firing. A recurring event that missed several slots (beat was
    down, it was paused) catches up by its policy (``scheduling.policies``):
    its latest slot is claimed once, or none, or each in turn. A firing later
    than its grace is recorded as ``missed``, and a slot due while the
    event's previous firing is unfinished (overlap "skip") as ``skipped``;
    neither is returned.

    One-offs, most of any burst, are claimed set-wise, from rows and not
    model instances (``_claim_one_offs``); recurring events need their
    calendar, so they are claimed as instances (``_claim_recurring``).
    Fired one-offs' beat rows are deleted in the claim, or with
    ``archive_later`` noted for ``archive_fired_beat_rows`` (a burst).
    """
    with transaction.atomic():
        due = _read_due(now, limit)
        if not due:
            return []
        one_offs = [row for row in due if row[_RECURRENCE] is None]
        recurring = [row[_ID] for row in due if row[_RECURRENCE] is not None]
        claimed = (
            _claim_one_offs(one_offs, now=now, archive_later=archive_later) if one_offs else []
        )
        if recurring:
            claimed += _claim_recurring(recurring, now=now)
    if one_offs and recurring:
        claimed.sort(key=lambda d: d.scheduled_for or now)
    return claimed


def _read_due(now: datetime, limit: int) -> list[tuple[Any, ...]]:
    """The first ``limit`` due events, read down ``event_due_idx`` whatever the statistics.

    With a bitmap scan of every due event, sorted, each batch of a burst
    read all the events still due: quadratic in the burst
    (``scheduling.index_order``).
    """
    with read_in_index_order():
        return list(_due_events(now)[:limit])


# The columns of a due row, as _due_events reads them.
_DUE_COLUMNS = (
    "id",
    "next_run_at",
    "event_type",
    "misfire_grace_seconds",
    "periodic_task_id",
    "recurrence",
)
_ID, _DUE, _TYPE, _GRACE, _TASK, _RECURRENCE = range(len(_DUE_COLUMNS))


def _due_events(now: datetime) -> QuerySet[ScheduledEvent, tuple[Any, ...]]:
    """The due events as rows of ``_DUE_COLUMNS``, earliest first, locked.

    Rows, not instances: building a model instance per due event was a fifth
    of a 10,000-event burst. Nor the payload: beat never reads it, and
    decrypting it would cost a Fernet decryption per due event (and let one
    unreadable payload stop every other event from firing; the worker
    reports that one instead).
    """
    due = ScheduledEvent.objects.filter(
        status=EventStatus.SCHEDULED, next_run_at__lte=now
    ).order_by("next_run_at")
    if connection.features.has_select_for_update_skip_locked:
        # Several beats on PostgreSQL: each takes rows the others have not locked.
        due = due.select_for_update(skip_locked=True, of=("self",))
    return due.values_list(*_DUE_COLUMNS)


# The columns beat writes when it claims a one-off (the others keep their defaults).
_CLAIM_COLUMNS = (
    "id",
    "event",
    "scheduled_for",
    "task_id",
    "trigger",
    "status",
    "attempts",
    "republish_count",
    "claimed_at",
    "lease_expires_at",
    "finished_at",
    "error",
)


def _claim_one_offs(
    rows: list[tuple[Any, ...]], *, now: datetime, archive_later: bool
) -> list[Dispatch]:
    """Claim due one-offs in a few statements, whatever their number.

    An ``Occurrence`` per row (missed if beyond its grace), inserted with
    one ``INSERT … ON CONFLICT DO NOTHING RETURNING``; then one UPDATE
    advances the events and detaches their beat rows (a second settles
    those missed, if any), and two DELETEs archive the beat rows
    (``_archive_fired_one_offs``), or one INSERT notes them to archive later.
    """
    lease = now + leases.CLAIM_LEASE
    graces: dict[tuple[str, int | None], timedelta | None] = {}
    claims, missed = [], []
    # The batch's ids from one read of the system's randomness: a read per
    # claim lets go of the interpreter lock, and beside the thread publishing
    # the last batch each wait for it back can last its turn.
    ids = random_ids.uuid4s(len(rows))
    for row, occurrence_id in zip(rows, ids, strict=True):
        event_id, due, event_type = row[_ID], row[_DUE], row[_TYPE]
        key = (event_type, row[_GRACE])
        if key not in graces:
            graces[key] = policies.grace_of(*key)
        reason = lateness_beyond_grace(graces[key], due, now, event_type=event_type)
        if reason:
            missed.append(event_id)
        claims.append(
            (
                occurrence_id,
                event_id,
                due,
                occurrence_task_id(event_id, due.isoformat()),
                Trigger.SCHEDULE,
                OccurrenceStatus.MISSED if reason else OccurrenceStatus.CLAIMED,
                0,
                0,
                now,
                None if reason else lease,
                now if reason else None,
                reason,
            )
        )
    inserted = bulk_insert.insert_new_rows(Occurrence, _CLAIM_COLUMNS, claims)
    ScheduledEvent.objects.filter(AnyOf(F("pk"), [row[_ID] for row in rows])).update(
        next_run_at=None, fired_count=F("fired_count") + 1, updated_at=now, periodic_task=None
    )
    if missed:
        ScheduledEvent.objects.filter(pk__in=missed).update(status=EventStatus.MISSED)
    fired = [row[_TASK] for row in rows if row[_TASK] is not None]
    if archive_later and fired:
        FiredBeatRows.objects.create(task_ids=fired, created_at=now)
    else:
        _archive_fired_one_offs(fired)
    return [
        Dispatch(str(event_id), str(pk), task_id, scheduled_for=due)
        for pk, event_id, due, task_id, _, status, *_ in claims
        if status == OccurrenceStatus.CLAIMED and pk in inserted
    ]


def _claim_recurring(event_ids: list[Any], *, now: datetime) -> list[Dispatch]:
    """Claim the due slot of each of these recurring events (locked by the caller)."""
    events = list(
        ScheduledEvent.objects.filter(pk__in=event_ids)
        .defer("payload")
        .select_related("periodic_task__crontab")
        .order_by("next_run_at")
    )
    for event in events:
        keep = settings.SCHEDULING_CATCH_UP_MAX_SLOTS if _catches_up_each(event) else 1
        calendar.coalesce_due_slots(event, now=now, keep=keep)
    busy = _still_busy([e for e in events if policies.overlap(e) == "skip"])
    claims = [
        _new_claim(event, now, busy=event.pk in busy, occurrence_id=occurrence_id)
        for event, occurrence_id in zip(events, random_ids.uuid4s(len(events)), strict=True)
    ]
    Occurrence.objects.bulk_create(claims, ignore_conflicts=True)
    inserted = set(
        Occurrence.objects.filter(pk__in=[c.pk for c in claims])
        .order_by()
        .values_list("pk", flat=True)
    )
    _advance(events, now=now)
    _settle_missed_one_offs([c for c in claims if c.status == OccurrenceStatus.MISSED])
    return [
        Dispatch(
            event_id=str(c.event_id),
            occurrence_id=str(c.pk),
            task_id=c.task_id,
            scheduled_for=c.scheduled_for,
        )
        for c in claims
        if c.pk in inserted and c.status == OccurrenceStatus.CLAIMED
    ]


def _catches_up_each(event: ScheduledEvent) -> bool:
    return event.is_recurring and policies.catch_up(event) == "each"


def _still_busy(events: list[ScheduledEvent]) -> set[Any]:
    """The ids of these events that have a firing not yet finished."""
    if not events:
        return set()
    return set(
        Occurrence.objects.filter(event__in=events)
        .exclude(status__in=FINAL_OCCURRENCE_STATUSES)
        .order_by()
        .values_list("event_id", flat=True)
    )


def _new_claim(
    event: ScheduledEvent, now: datetime, *, busy: bool, occurrence_id: uuid.UUID
) -> Occurrence:
    """A claim to publish, or a record of a firing missed or skipped."""
    assert event.next_run_at is not None
    due = event.next_run_at
    reason = lateness_beyond_grace(
        policies.grace(event), due, now, event_type=event.event_type
    ) or _skipped_as_late(event, due, now)
    status = OccurrenceStatus.MISSED if reason else OccurrenceStatus.CLAIMED
    if reason is None and busy:
        status, reason = OccurrenceStatus.SKIPPED, OVERLAP_REASON
    return Occurrence(
        id=occurrence_id,
        event=event,
        scheduled_for=due,
        task_id=occurrence_task_id(event.id, due.isoformat()),
        status=status,
        claimed_at=now,
        lease_expires_at=None if reason else now + leases.CLAIM_LEASE,
        finished_at=now if reason else None,
        error=reason,
    )


OVERLAP_REASON = "skipped: the previous firing is still unfinished (overlap is skip)"


def _skipped_as_late(event: ScheduledEvent, due: datetime, now: datetime) -> str | None:
    """catch_up "skip": a slot reached late is missed however long its grace."""
    if not event.is_recurring or policies.catch_up(event) != "skip":
        return None
    on_time = timedelta(seconds=settings.SCHEDULING_CATCH_UP_ON_TIME_SECONDS)
    if now - due <= on_time:
        return None
    return f"missed: claimed {now - due} after its instant; catch_up is skip"


def _settle_missed_one_offs(missed: list[Occurrence]) -> None:
    """An event whose last firing was missed ends as missed (a rule: if nothing is left)."""
    ScheduledEvent.objects.filter(
        pk__in=[o.event_id for o in missed], status=EventStatus.SCHEDULED, next_run_at__isnull=True
    ).update(status=EventStatus.MISSED)


def _advance(events: list[ScheduledEvent], *, now: datetime) -> None:
    """Count each recurring event's firing and move it to its next run.

    A rule with no slot left gets none (``next_run_at`` NULL): it is settled
    by its last firing's outcome, or as missed now if that was missed.
    """
    for event in events:
        assert event.next_run_at is not None
        event.fired_count += 1
        event.updated_at = now
        # Catching up each slot: the next after this one, though it is due too.
        after = event.next_run_at if _catches_up_each(event) else max(event.next_run_at, now)
        event.next_run_at = calendar.next_run_from_beat_row(event, after=after)
    ScheduledEvent.objects.bulk_update(
        events, ["fired_count", "next_run_at", "updated_at"], batch_size=_UPDATE_BATCH
    )


def archive_fired_beat_rows(keep_going: Callable[[], bool] = lambda: True) -> int:
    """Delete the beat rows that bursts left to archive (``FiredBeatRows``); return how many.

    One transaction per claimed batch, until none is left or ``keep_going()``
    says stop (asked before each). Several beats may run it at once: each
    takes the batches the others have not locked. Beat's loop asks whether
    any are left (``selectors.fired_beat_rows_left``) before it starts this.
    """
    archived = 0
    while keep_going():
        with transaction.atomic():
            pending = FiredBeatRows.objects.order_by("pk")
            if connection.features.has_select_for_update_skip_locked:
                pending = pending.select_for_update(skip_locked=True)
            batch = pending.first()
            if batch is None:
                return archived
            _archive_fired_one_offs(batch.task_ids)
            batch.delete()
        archived += len(batch.task_ids)
    return archived


def _archive_fired_one_offs(task_ids: list[int]) -> None:
    """Fired one-offs leave the beat tables; their history is their Occurrence.

    So the beat tables hold what is still to come, whatever has fired. The
    events no longer point at these rows (the caller detached them). Deleted
    without per-row signals: django-celery-beat's would bump
    ``PeriodicTasks`` and make every beat reload its schedule.
    """
    if not task_ids:
        return
    quote = connection.ops.quote_name
    tasks, clocks = quote(PeriodicTask._meta.db_table), quote(ClockedSchedule._meta.db_table)
    marks = ", ".join(["%s"] * len(task_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {tasks} WHERE id IN ({marks}) RETURNING clocked_id",  # noqa: S608
            task_ids,
        )
        clock_ids = [clock for (clock,) in cursor.fetchall() if clock is not None]
        if not clock_ids:
            return
        # A clock an admin has pointed another task at stays.
        cursor.execute(
            f"DELETE FROM {clocks} WHERE id IN ({', '.join(['%s'] * len(clock_ids))})"  # noqa: S608
            f" AND NOT EXISTS (SELECT 1 FROM {tasks} t WHERE t.clocked_id = {clocks}.id)",
            clock_ids,
        )


def claim_manual_run(event_id: str, *, now: datetime) -> Dispatch:
    """Claim an extra firing of a scheduled event at ``now`` (run now); return it to publish.

    Its regular schedule is unchanged. Claimed like any firing, so a lost
    message is published again when its lease lapses. Raise
    ScheduledEvent.DoesNotExist if no scheduled event has this id.
    """
    with transaction.atomic():
        event = ScheduledEvent.objects.select_for_update().get(
            pk=event_id, status=EventStatus.SCHEDULED
        )
        occurrence = Occurrence.objects.create(
            event=event,
            scheduled_for=now,
            task_id=occurrence_task_id(event.id, now.isoformat()),
            trigger=Trigger.MANUAL,
            status=OccurrenceStatus.CLAIMED,
            claimed_at=now,
            lease_expires_at=now + leases.CLAIM_LEASE,
        )
        audit.record(AuditAction.RUN, event.id, occurrence_id=str(occurrence.pk))
    return Dispatch(str(event.id), str(occurrence.pk), occurrence.task_id)


def after_last_firing(event: ScheduledEvent, since: datetime) -> datetime:
    """``since``, or the event's latest firing if that is later.

    Where to look for an event's next slot after it was moved or resumed:
    beat claims a slot when it is due, so one may lie just past ``since``,
    and a slot fired is never offered again.
    """
    last = event.occurrences.aggregate(last=Max("scheduled_for"))["last"]
    return since if last is None else max(since, last)


def mark_sent(dispatches: list[Dispatch], *, now: datetime) -> None:
    """The broker holds these messages now: it answers for them until their lease."""
    # Only claimed rows: a fast worker may already have moved one on.
    Occurrence.objects.filter(
        AnyOf(F("pk"), [d.occurrence_id for d in dispatches]), status=OccurrenceStatus.CLAIMED
    ).update(status=OccurrenceStatus.SENT, sent_at=now, lease_expires_at=now + leases.sent_lease(0))


# --- Worker side ---------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """A started occurrence, with its event as it stood when it started.

    ``missed`` is set when the first attempt reached the worker later than
    its type's grace: the occurrence must be recorded as missed, not run.
    """

    occurrence: Occurrence
    missed: str | None = None


def begin_occurrence(
    *, event_id: str, occurrence_id: str | None, task_id: str | None, now: datetime
) -> Start | None:
    """Mark an occurrence running under a worker lease; None if it must not run.

    None means the event is unknown, the occurrence already reached a final
    state (a duplicate delivery), or another worker holds it (its lease is
    live). Without ``occurrence_id`` (a manual run from the admin) a new
    occurrence is recorded at ``now``.

    The event row is locked first: a cancel or reschedule that committed
    before is seen here (the firing is then skipped), and one that commits
    after finds this occurrence running and says so (``cancel_event``).
    """
    with transaction.atomic():
        event = _locked_event(event_id)
        if event is None:
            return None
        if occurrence_id is None:
            occurrence_id = _record_manual_occurrence(event, task_id=task_id, now=now)
        started = (
            Occurrence.objects.filter(pk=occurrence_id)
            .filter(leases.startable(now))
            .update(
                status=OccurrenceStatus.RUNNING,
                started_at=now,
                attempts=F("attempts") + 1,
                lease_expires_at=now + leases.worker_lease(),
            )
        )
        if not started:
            return None
        occurrence = Occurrence.objects.get(pk=occurrence_id)
    occurrence.event = event
    return Start(occurrence, missed=_missed_at_start(occurrence, now))


def _locked_event(event_id: str) -> ScheduledEvent | None:
    try:
        return ScheduledEvent.objects.select_for_update().filter(pk=event_id).first()
    except ValidationError:
        return None  # not a UUID: no such event


def _missed_at_start(occurrence: Occurrence, now: datetime) -> str | None:
    # Only a first attempt: a retry or a recovery continues a firing that
    # started in time. A manual run or a backfill is due when it is asked for.
    if occurrence.attempts != 1 or occurrence.trigger != Trigger.SCHEDULE:
        return None
    if occurrence.scheduled_for >= occurrence.claimed_at:
        return None  # run by hand from the periodic-task list (a PeriodicTask run)
    event = occurrence.event
    return lateness_beyond_grace(
        policies.grace(event),
        occurrence.scheduled_for,
        now,
        event_type=event.event_type,
        stage="started",
    )


def _record_manual_occurrence(event: ScheduledEvent, *, task_id: str | None, now: datetime) -> str:
    occurrence = Occurrence.objects.create(
        event=event,
        scheduled_for=now,
        task_id=task_id or str(uuid.uuid4()),
        trigger=Trigger.MANUAL,
        status=OccurrenceStatus.CLAIMED,
        claimed_at=now,
        lease_expires_at=now + leases.CLAIM_LEASE,
    )
    return str(occurrence.pk)


def complete_occurrence(occurrence: Occurrence, *, result: Any, now: datetime) -> bool:
    """Record success; False if this attempt no longer holds the occurrence."""
    return _finish(occurrence, OccurrenceStatus.SUCCEEDED, now=now, result=result, success=True)


def skip_occurrence(occurrence: Occurrence, *, reason: str, now: datetime) -> bool:
    return _finish(occurrence, OccurrenceStatus.SKIPPED, now=now, error=reason, success=True)


def miss_occurrence(occurrence: Occurrence, *, reason: str, now: datetime) -> bool:
    """Record a firing that reached the worker past its grace: it did not run."""
    with transaction.atomic():
        finished = _finish(occurrence, OccurrenceStatus.MISSED, now=now, error=reason, success=None)
        if finished:
            _settle_missed_one_offs([occurrence])
    return finished


def retry_later(occurrence: Occurrence, *, error: str, countdown: float, now: datetime) -> bool:
    """An attempt failed and will be retried after ``countdown`` seconds.

    The lease covers the backoff: if the retry's message is lost with its
    worker, beat publishes the occurrence again once the lease lapses.
    """
    return _update_if_held(
        occurrence,
        status=OccurrenceStatus.RETRYING,
        error=error,
        lease_expires_at=now + timedelta(seconds=countdown) + leases.worker_lease(),
    )


def fail_occurrence(occurrence: Occurrence, *, error: str, now: datetime) -> bool:
    return _finish(occurrence, OccurrenceStatus.FAILED, now=now, error=error, success=False)


def _update_if_held(occurrence: Occurrence, **values: Any) -> bool:
    """Write ``values`` to ``occurrence`` if the attempt that started it still holds it.

    Held: the attempt that started it, still running it; or, if beat took it
    back (its lease lapsed while the database was away), still waiting for a
    worker with no other attempt begun: finishing it then stops the copy
    beat published from running the handler a second time.

    On PostgreSQL the row is locked and checked by its primary key, then
    written by it. One UPDATE naming the statuses was planned, on statistics taken when
    next to nothing was unfinished (as between bursts it is), as a scan of
    ``occurrence_lease_idx`` filtered by id: 7-8 ms an outcome with 20,000
    unfinished, growing with the backlog, against 0.1 ms.
    """
    if connection.vendor != "postgresql":
        # One conditional UPDATE, as SQLite plans it by the key: read, then
        # written, it could meet another writer's commit in between (in a
        # transaction not begun IMMEDIATE) and fail at once.
        return bool(
            Occurrence.objects.filter(
                pk=occurrence.pk, attempts=occurrence.attempts, status__in=_HELD
            ).update(**values)
        )
    with transaction.atomic(savepoint=False):
        row = (
            Occurrence.objects.select_for_update()
            .filter(pk=occurrence.pk)
            .values_list("status", "attempts")
            .first()
        )
        if row is None or row[0] not in _HELD or row[1] != occurrence.attempts:
            return False
        return bool(Occurrence.objects.filter(pk=occurrence.pk).update(**values))


_HELD = (OccurrenceStatus.RUNNING, OccurrenceStatus.SENT)


def _finish(
    occurrence: Occurrence,
    status: str,
    *,
    now: datetime,
    success: bool | None,
    error: str | None = None,
    result: Any = None,
) -> bool:
    # One transaction, the event row locked first as begin_occurrence does:
    # a cancel sees either the firing running or the event settled, never a
    # finished firing of an event still scheduled.
    with transaction.atomic():
        _locked_event(str(occurrence.event_id))
        finished = _update_if_held(
            occurrence,
            status=status,
            finished_at=now,
            error=error,
            result=result,
            lease_expires_at=None,
        )
        if finished and success is not None:
            _settle_event(occurrence.event_id, success=success)
    return bool(finished)


def _settle_event(event_id: uuid.UUID, *, success: bool) -> None:
    """A one-off, or a rule with nothing left to fire, ends with its last run."""
    ScheduledEvent.objects.filter(
        pk=event_id, status=EventStatus.SCHEDULED, next_run_at__isnull=True
    ).update(status=EventStatus.COMPLETED if success else EventStatus.FAILED)


# --- Retention --------------------------------------------------------------------


# Rows per purge transaction: a clean-up of months of history holds no lock,
# and no memory, for longer than one batch takes.
PURGE_BATCH = 2000


def purge_history(*, older_than: datetime, batch_size: int = PURGE_BATCH) -> dict[str, int]:
    """Delete finished occurrences and task results older than ``older_than``.

    Return how many of each were deleted (rows of other apps that go with an
    occurrence, such as a handler's records of it, are not counted).
    Unfinished occurrences are kept whatever their age: they are claims
    still in flight.

    In batches of ``batch_size``, each its own transaction. Another app's
    foreign key to ``Occurrence`` (the handlers' notifications and reports)
    makes Django's delete collect the rows it deletes: in one statement it
    read and decrypted every purgeable occurrence, two million after a
    quiet season, and sent lists of as many ids back. A batch reads only
    their ids.
    """
    stale = Occurrence.objects.filter(
        status__in=FINAL_OCCURRENCE_STATUSES, finished_at__lt=older_than
    )
    return {
        "occurrences_deleted": _delete_in_batches(stale, batch_size),
        "task_results_deleted": _delete_in_batches(
            TaskResult.objects.filter(date_done__lt=older_than), batch_size
        ),
    }


def _delete_in_batches(rows: QuerySet[Any], batch_size: int) -> int:
    """Delete ``rows`` ``batch_size`` at a time; return how many of them went."""
    model = rows.model
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(rows.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                return deleted
            _, by_model = model.objects.filter(pk__in=ids).only("pk").delete()
        deleted += by_model.get(model._meta.label, 0)


def retry_failed(occurrence_ids: list[str], *, now: datetime) -> list[Dispatch]:
    """Put failed occurrences back to ``claimed`` for publishing again; return them.

    Their one-off events go back to ``scheduled`` so that success settles
    them. Occurrences that are not failed are left alone.
    """
    with transaction.atomic():
        failed = list(
            Occurrence.objects.select_for_update()
            .filter(pk__in=occurrence_ids, status=OccurrenceStatus.FAILED)
            .values_list("event_id", "pk", "task_id")
        )
        pks = [pk for _, pk, _ in failed]
        Occurrence.objects.filter(pk__in=pks).update(
            status=OccurrenceStatus.CLAIMED,
            error=None,
            finished_at=None,
            claimed_at=now,
            lease_expires_at=now + leases.CLAIM_LEASE,
        )
        ScheduledEvent.objects.filter(
            pk__in=[event_id for event_id, _, _ in failed], status=EventStatus.FAILED
        ).update(status=EventStatus.SCHEDULED, updated_at=now)
        audit.record_many(
            AuditAction.RETRY,
            ((event_id, {"occurrence_id": str(pk)}) for event_id, pk, _ in failed),
        )
    return [Dispatch(str(event_id), str(pk), task_id) for event_id, pk, task_id in failed]
