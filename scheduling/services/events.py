"""Schedule, cancel and reschedule events (the public write API)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from scheduling import audit, bulk_insert, calendar, policies, random_ids
from scheduling.exceptions import EventValidationError, IdempotencyConflict
from scheduling.gc_pause import collector_paused
from scheduling.models import (
    AuditAction,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
)
from scheduling.services import beat_rows, duplicates, occurrences
from scheduling.services.publishing import publish
from scheduling.validation import EventSpec, build_event_spec, event_uuid, require_event_uuid


def schedule_event(
    *,
    event_type: str,
    entity_id: str,
    scheduled_time: datetime,
    resource_timezone: str,
    user_timezone: str,
    payload: dict[str, Any],
    recurrence: dict[str, Any] | None = None,
    service_id: str = "backend",
    idempotency_key: str | None = None,
    execution_timezone: str | None = None,
) -> ScheduledEvent:
    """Schedule one event; return it (its ``id`` is the event id).

    One transaction writes the event and its beat rows. Scheduling the same
    thing twice (same service and idempotency key, or same service, type,
    entity and time while the first is still scheduled) returns the first
    event. Raise EventValidationError, writing nothing, on bad input, and
    IdempotencyConflict when a key is reused for a different event.
    """
    now = timezone.now()
    spec = build_event_spec(
        now=now,
        event_type=event_type,
        entity_id=entity_id,
        scheduled_time=scheduled_time,
        resource_timezone=resource_timezone,
        user_timezone=user_timezone,
        payload=payload,
        recurrence=recurrence,
        service_id=service_id,
        idempotency_key=idempotency_key,
        execution_timezone=execution_timezone,
    )
    return _schedule_specs([spec], now=now)[0][0]


def schedule_or_get_event(**arguments: Any) -> tuple[ScheduledEvent, bool]:
    """``schedule_event`` (same arguments), also saying whether the event is new.

    The flag is False when an earlier request already scheduled it: the
    HTTP API answers such a repeat with 200 instead of 201.
    """
    now = timezone.now()
    return _schedule_specs([build_event_spec(**arguments, now=now)], now=now)[0]


def schedule_events(events: Iterable[Mapping[str, Any]]) -> list[ScheduledEvent]:
    """Schedule many events in one transaction; return them in input order.

    Each item takes ``schedule_event``'s keyword arguments. All are validated
    first: one bad item raises EventValidationError (its message keys are
    prefixed with the item's index, ``"3.scheduled_time"``) and nothing is
    written.
    """
    now = timezone.now()
    # Tens of thousands of instances: the collector's passes would find no
    # cycle to free (scheduling.gc_pause).
    with collector_paused():
        specs = _build_specs(list(events), now=now)
        return [event for event, _new in _schedule_specs(specs, now=now)]


def _build_specs(items: Sequence[Mapping[str, Any]], *, now: datetime) -> list[EventSpec]:
    specs: list[EventSpec] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        try:
            specs.append(build_event_spec(**item, now=now))
        except EventValidationError as exc:
            errors.update({f"{index}.{k}": v for k, v in exc.message_dict.items()})
        except TypeError as exc:
            errors[str(index)] = [str(exc)]
    if errors:
        raise EventValidationError(errors)
    return specs


def _schedule_specs(
    specs: Sequence[EventSpec], *, now: datetime
) -> list[tuple[ScheduledEvent, bool]]:
    try:
        with transaction.atomic():
            return _insert_new(specs, now=now)
    except IntegrityError:
        # A concurrent caller inserted one of them first; the lookup below,
        # in a fresh transaction, now sees its row.
        with transaction.atomic():
            return _insert_new(specs, now=now)


def _insert_new(specs: Sequence[EventSpec], *, now: datetime) -> list[tuple[ScheduledEvent, bool]]:
    existing = duplicates.find_existing(specs)
    found = [_find_duplicate(spec, existing) for spec in specs]
    missing = [spec for spec, dup in zip(specs, found, strict=True) if dup is None]
    new_specs = _dedupe_within_batch(missing)
    created = _create_events(list(new_specs.values()), now=now)
    by_key = dict(zip(new_specs.keys(), created, strict=True))
    return [
        (dup, False) if dup is not None else (by_key[_natural_key(spec)], True)
        for spec, dup in zip(specs, found, strict=True)
    ]


def _natural_key(spec: EventSpec) -> duplicates.NaturalKey:
    # The database allows one scheduled event per natural key (a partial
    # unique constraint), whatever idempotency keys the requests carried.
    return duplicates.natural_key(spec)


def _dedupe_within_batch(specs: Sequence[EventSpec]) -> dict[duplicates.NaturalKey, EventSpec]:
    unique: dict[duplicates.NaturalKey, EventSpec] = {}
    keyed: dict[tuple[str, str], EventSpec] = {}
    for spec in specs:
        if spec.idempotency_key is not None:
            first = keyed.setdefault((spec.service_id, spec.idempotency_key), spec)
            if _identity(first) != _identity(spec):
                raise IdempotencyConflict(
                    {"idempotency_key": f"{spec.idempotency_key!r} names two different events"}
                )
        unique.setdefault(_natural_key(spec), spec)
    return unique


def _find_duplicate(spec: EventSpec, existing: duplicates.Existing) -> ScheduledEvent | None:
    """The event this spec repeats, if any; raise if its key names another event.

    A key seen before must name the same event. A new key (or none) finds the
    scheduled event with the same type, entity and time, if there is one.
    """
    if spec.idempotency_key is not None:
        keyed = existing.keyed.get((spec.service_id, spec.idempotency_key))
        if keyed is not None:
            return _same_event(keyed, spec)
    natural = existing.natural.get(_natural_key(spec))
    if (
        natural is not None
        and spec.idempotency_key is not None
        and natural.idempotency_key == spec.idempotency_key
    ):
        # A concurrent request with this key committed between the two
        # lookups (on PostgreSQL each statement sees the commits made before
        # it): it is the keyed event after all, and must match.
        return _same_event(natural, spec)
    return natural


def _same_event(existing: ScheduledEvent, spec: EventSpec) -> ScheduledEvent:
    """``existing``, which has the spec's key; raise IdempotencyConflict if it is another event."""
    if _identity(existing) != _identity(spec):
        raise IdempotencyConflict(
            {"idempotency_key": f"already used for a different event ({existing.id})"}
        )
    return existing


def _identity(event: ScheduledEvent | EventSpec) -> tuple[Any, ...]:
    """What must match for a repeated idempotency key to name the same event.

    Payload and recurrence compare as JSON text: Python holds 1 == 1.0 ==
    True, but a handler reading the payload sees which one it was given.
    """
    return (
        event.event_type,
        event.entity_id,
        event.scheduled_time,
        event.resource_timezone,
        event.user_timezone,
        event.execution_timezone,
        _as_json(event.payload),
        _as_json(event.recurrence),
    )


def _as_json(value: Any) -> str:
    # Both sides are JSON round trips (the spec's payload is stored as read
    # back), so their keys are strings and sort.
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _create_events(specs: list[EventSpec], *, now: datetime) -> list[ScheduledEvent]:
    if not specs:
        return []
    ids = random_ids.uuid4s(len(specs))
    # One event (the API's usual call) on PostgreSQL: its clock, beat row,
    # event and audit entry go in one statement, three round trips fewer.
    linked = len(specs) == 1 and connection.vendor == "postgresql"
    tasks = beat_rows.unsaved_periodic_tasks(specs, ids, insert_clocks=not linked)
    events = [
        _unsaved_event(spec, event_id, task)
        for spec, event_id, task in zip(specs, ids, tasks, strict=True)
    ]
    # No full_clean(): every value comes from a spec that build_event_spec
    # checked against the model's own limits (lengths, zones, registered
    # types, payload), and at 10,000 events it cost an eighth of the batch.
    # tests/scheduling/test_schedule_events_bulk.py holds the two to agree.
    for event, spec in zip(events, specs, strict=True):
        event.next_run_at = _first_run(event, spec, now=now)
    entries = audit.entries(
        AuditAction.SCHEDULE, ((event.id, _audit_details(event)) for event in events)
    )
    if linked:
        clocks = [task.clocked for task in tasks if task.clocked is not None]
        bulk_insert.insert_linked([*clocks, *tasks, *events, *entries])
    else:
        bulk_insert.insert(tasks)
        bulk_insert.insert(events)
        bulk_insert.insert(entries, ids=False)
    return events


def _first_run(event: ScheduledEvent, spec: EventSpec, *, now: datetime) -> datetime | None:
    """The new event's first ``next_run_at``: the first firing at or after ``now``.

    A recurring event's was found when its rule was checked, from the
    calendar its beat row is made of; it stands unless the type's jitter
    moves the event off its slots. Otherwise it is read from the beat row.
    """
    if spec.first_fire is not None and policies.jitter_offset(event) == timedelta(0):
        return spec.first_fire
    return calendar.next_run_from_beat_row(event, after=now - timedelta(microseconds=1))


def _audit_details(event: ScheduledEvent) -> dict[str, Any]:
    return {
        "type": event.event_type,
        "service_id": event.service_id,
        "entity_id": event.entity_id,
        "scheduled_time": event.scheduled_time.isoformat(),
        "recurring": event.recurrence is not None,
    }


def _unsaved_event(spec: EventSpec, event_id: uuid.UUID, task: Any) -> ScheduledEvent:
    event = bulk_insert.build(
        ScheduledEvent,
        id=event_id,
        event_type=spec.event_type,
        service_id=spec.service_id,
        entity_id=spec.entity_id,
        scheduled_time=spec.scheduled_time,
        resource_timezone=spec.resource_timezone,
        user_timezone=spec.user_timezone,
        execution_timezone=spec.execution_timezone,
        payload=spec.payload,
        recurrence=spec.recurrence,
        idempotency_key=spec.idempotency_key,
        status=EventStatus.SCHEDULED,
    )
    # Not inserted yet: the insert reads its id from it once it has one.
    bulk_insert.relate(event, "periodic_task", task)
    return event


@dataclass(frozen=True)
class Cancellation:
    """What ``cancel_event`` did; true when the event was cancelled.

    ``firing_in_progress``: a firing of the event had already started on a
    worker when the cancel committed. It runs to its end (a handler cannot
    be stopped half-way); every firing not yet started when the cancel
    committed is skipped.
    """

    cancelled: bool
    firing_in_progress: bool = False

    def __bool__(self) -> bool:
        return self.cancelled


@transaction.atomic
def cancel_event(event_id: uuid.UUID | str) -> Cancellation:
    """Cancel a scheduled event and disable its beat row.

    The result is true if it was scheduled (or paused) and is now cancelled,
    false if it is unknown or was not (already cancelled, completed or failed).
    """
    pk = event_uuid(event_id)
    if pk is None:
        return Cancellation(cancelled=False)
    # A claim on the status: of two concurrent cancels, one wins. The update
    # also locks the row, which a worker starting a firing locks too: either
    # the worker started first (the occurrence is running, seen below) or it
    # waits and then sees the event cancelled and skips the firing.
    claimed = ScheduledEvent.objects.filter(
        id=pk, status__in=[EventStatus.SCHEDULED, EventStatus.PAUSED]
    ).update(status=EventStatus.CANCELLED, next_run_at=None, updated_at=timezone.now())
    if not claimed:
        return Cancellation(cancelled=False)
    task_id = ScheduledEvent.objects.filter(id=pk).values_list("periodic_task_id", flat=True).get()
    if task_id is not None:
        beat_rows.disable_periodic_tasks([task_id])
    in_progress = Occurrence.objects.filter(event_id=pk, status=OccurrenceStatus.RUNNING).exists()
    details = {"firing_in_progress": True} if in_progress else {}
    audit.record(AuditAction.CANCEL, pk, **details)
    return Cancellation(cancelled=True, firing_in_progress=in_progress)


@transaction.atomic
def reschedule_event(
    event_id: uuid.UUID | str,
    *,
    scheduled_time: datetime,
    payload: dict[str, Any] | None = None,
    recurrence: dict[str, Any] | None = None,
) -> ScheduledEvent:
    """Replace a scheduled event by one at a new time; return the new event.

    The old event is cancelled (its history stays); the new one keeps its
    type, entity, zones and, unless given, payload and recurrence. Raise
    EventValidationError if ``event_id`` is not a UUID, and
    ScheduledEvent.DoesNotExist if no scheduled event has this id.

    A firing of the old event not yet started when this commits is skipped;
    one already running runs to its end, and the new event's
    ``replaced_firing_in_progress`` is then true (see ``Cancellation``).
    """
    pk = require_event_uuid(event_id)
    old = ScheduledEvent.objects.select_for_update().get(id=pk, status=EventStatus.SCHEDULED)
    cancellation = cancel_event(old.id)
    new = schedule_event(
        event_type=old.event_type,
        entity_id=old.entity_id,
        scheduled_time=scheduled_time,
        resource_timezone=old.resource_timezone,
        user_timezone=old.user_timezone,
        execution_timezone=old.execution_timezone,
        payload=old.payload if payload is None else payload,
        recurrence=old.recurrence if recurrence is None else recurrence,
        service_id=old.service_id,
    )
    audit.record(
        AuditAction.RESCHEDULE,
        old.id,
        new_event_id=str(new.id),
        scheduled_time=new.scheduled_time.isoformat(),
        **({"firing_in_progress": True} if cancellation.firing_in_progress else {}),
    )
    new.replaced_firing_in_progress = cancellation.firing_in_progress
    return new


# An argument left out. update_event changes only time, payload and
# recurrence: type, entity, zones and service are what the event is.
_UNSET: Any = object()


@transaction.atomic
def update_event(
    event_id: uuid.UUID | str,
    *,
    scheduled_time: datetime = _UNSET,
    payload: dict[str, Any] = _UNSET,
    recurrence: dict[str, Any] | None = _UNSET,
    via: str | None = None,
) -> ScheduledEvent:
    """Change a scheduled event's time, payload or recurrence in place; return it.

    The event keeps its id and history; its beat row and ``next_run_at``
    move with it, in the same transaction (beat fires it at the new time,
    never at the old). ``recurrence=None`` makes a recurring event a one-off;
    a recurring one keeps its count of firings. Arguments left out keep
    their value. Raise ScheduledEvent.DoesNotExist if no scheduled event has
    this id, and EventValidationError, changing nothing, for bad input, for a
    one-off that has already fired, or for a time another scheduled event of
    the same type and entity already has.
    """
    pk = require_event_uuid(event_id)
    event = (
        ScheduledEvent.objects.select_for_update(of=("self",))
        .select_related("periodic_task")
        .get(id=pk, status=EventStatus.SCHEDULED)
    )
    now = timezone.now()
    spec, changed = check_event_update(
        event, scheduled_time=scheduled_time, payload=payload, recurrence=recurrence, now=now
    )
    if not changed:
        return event
    event.scheduled_time, event.payload, event.recurrence = (
        spec.scheduled_time,
        spec.payload,
        spec.recurrence,
    )
    event.periodic_task = beat_rows.move_periodic_task(event.periodic_task, spec, event.id)
    event.next_run_at = calendar.next_run_from_beat_row(
        event, after=occurrences.after_last_firing(event, now - timedelta(microseconds=1))
    )
    event.updated_at = now
    _save_moved(event)
    audit.record(
        AuditAction.RESCHEDULE,
        event.id,
        **({"via": via} if via else {}),
        fields=changed,
        scheduled_time=event.scheduled_time.isoformat(),
        next_run_at=event.next_run_at.isoformat() if event.next_run_at else None,
    )
    return event


def check_event_update(
    event: ScheduledEvent,
    *,
    now: datetime,
    scheduled_time: datetime = _UNSET,
    payload: dict[str, Any] = _UNSET,
    recurrence: dict[str, Any] | None = _UNSET,
) -> tuple[EventSpec, list[str]]:
    """Check ``update_event``'s changes without writing: the event as changed, and
    the names of the fields that change. Raise EventValidationError as it would.

    For forms, to show each error on its field before anything is saved.
    """
    spec = _updated_spec(event, scheduled_time, payload, recurrence, now=now)
    changed = _changed_fields(event, spec)
    if changed and event.fired_count and not event.is_recurring:
        raise EventValidationError(
            {"scheduled_time": "this one-off has already fired; schedule a new event instead"}
        )
    if "scheduled_time" in changed and _natural_key_taken(event, spec.scheduled_time):
        raise EventValidationError({"scheduled_time": _taken_message(event)})
    return spec, changed


def _natural_key_taken(event: ScheduledEvent, scheduled_time: datetime) -> bool:
    return (
        ScheduledEvent.objects.filter(
            service_id=event.service_id,
            event_type=event.event_type,
            entity_id=event.entity_id,
            scheduled_time=scheduled_time,
            status=EventStatus.SCHEDULED,
        )
        .exclude(pk=event.pk)
        .exists()
    )


def _taken_message(event: ScheduledEvent) -> str:
    return (
        f"another scheduled {event.event_type} event for {event.entity_id} is already at this time"
    )


def run_event_now(event_id: uuid.UUID | str) -> str:
    """Fire a scheduled event once more, now; return the new occurrence's id.

    An extra firing, in the event's history like any other (its
    ``scheduled_for`` is the instant it was asked for); the regular schedule
    is unchanged. Raise EventValidationError if ``event_id`` is not a UUID
    and ScheduledEvent.DoesNotExist if no scheduled event has this id.
    """
    pk = require_event_uuid(event_id)
    dispatch = occurrences.claim_manual_run(str(pk), now=timezone.now())
    # Committed before publishing: if the broker is away, the claim's lease
    # lapses and beat publishes it.
    publish([dispatch], app=current_app)
    return dispatch.occurrence_id


def _updated_spec(
    event: ScheduledEvent,
    scheduled_time: datetime,
    payload: dict[str, Any],
    recurrence: dict[str, Any] | None,
    *,
    now: datetime,
) -> EventSpec:
    """The event with the given changes, validated as a new event would be."""
    return build_event_spec(
        now=now,
        event_type=event.event_type,
        entity_id=event.entity_id,
        service_id=event.service_id,
        resource_timezone=event.resource_timezone,
        user_timezone=event.user_timezone,
        execution_timezone=event.execution_timezone,
        scheduled_time=event.scheduled_time if scheduled_time is _UNSET else scheduled_time,
        payload=event.payload if payload is _UNSET else payload,
        recurrence=event.recurrence if recurrence is _UNSET else recurrence,
    )


def _changed_fields(event: ScheduledEvent, spec: EventSpec) -> list[str]:
    # As JSON text, for the reason _identity gives.
    return [
        name
        for name, old, new in (
            ("scheduled_time", event.scheduled_time, spec.scheduled_time),
            ("payload", _as_json(event.payload), _as_json(spec.payload)),
            ("recurrence", _as_json(event.recurrence), _as_json(spec.recurrence)),
        )
        if old != new
    ]


def _save_moved(event: ScheduledEvent) -> None:
    fields = ["scheduled_time", "payload", "recurrence", "periodic_task", "next_run_at"]
    try:
        # A savepoint: the caller's transaction survives the refusal below.
        with transaction.atomic():
            event.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:
        # Taken by a concurrent write since check_event_update looked.
        raise EventValidationError({"scheduled_time": _taken_message(event)}) from None
