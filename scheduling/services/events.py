"""Schedule, cancel and reschedule events (the public write API)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from scheduling.exceptions import IdempotencyConflict
from scheduling.models import EventStatus, ScheduledEvent
from scheduling.services import beat_rows
from scheduling.validation import EventSpec, build_event_spec


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
    spec = build_event_spec(
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
    return _schedule_specs([spec])[0]


def schedule_events(events: Iterable[Mapping[str, Any]]) -> list[ScheduledEvent]:
    """Schedule many events in one transaction; return them in input order.

    Each item takes ``schedule_event``'s keyword arguments. All are validated
    first: one bad item raises EventValidationError (its message keys are
    prefixed with the item's index, ``"3.scheduled_time"``) and nothing is
    written.
    """
    return _schedule_specs(_build_specs(list(events)))


def _build_specs(items: Sequence[Mapping[str, Any]]) -> list[EventSpec]:
    from scheduling.exceptions import EventValidationError

    specs: list[EventSpec] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        try:
            specs.append(build_event_spec(**item))
        except EventValidationError as exc:
            errors.update({f"{index}.{k}": v for k, v in exc.message_dict.items()})
        except TypeError as exc:
            errors[str(index)] = [str(exc)]
    if errors:
        raise EventValidationError(errors)
    return specs


def _schedule_specs(specs: Sequence[EventSpec]) -> list[ScheduledEvent]:
    now = timezone.now()
    try:
        with transaction.atomic():
            return _insert_new(specs, now=now)
    except IntegrityError:
        # A concurrent caller inserted one of them first; the lookup below,
        # in a fresh transaction, now sees its row.
        with transaction.atomic():
            return _insert_new(specs, now=now)


def _insert_new(specs: Sequence[EventSpec], *, now: datetime) -> list[ScheduledEvent]:
    found = [_find_duplicate(spec) for spec in specs]
    new_specs = [spec for spec, dup in zip(specs, found, strict=True) if dup is None]
    new_specs = _dedupe_within_batch(new_specs)
    created = _create_events(list(new_specs.values()), now=now)
    by_key = dict(zip(new_specs.keys(), created, strict=True))
    return [dup or by_key[_natural_key(spec)] for spec, dup in zip(specs, found, strict=True)]


def _natural_key(spec: EventSpec) -> tuple[str, ...]:
    if spec.idempotency_key is not None:
        return ("key", spec.service_id, spec.idempotency_key)
    return (
        "natural",
        spec.service_id,
        spec.event_type,
        spec.entity_id,
        spec.scheduled_time.isoformat(),
    )


def _dedupe_within_batch(specs: Sequence[EventSpec]) -> dict[tuple[str, ...], EventSpec]:
    unique: dict[tuple[str, ...], EventSpec] = {}
    for spec in specs:
        unique.setdefault(_natural_key(spec), spec)
    return unique


def _find_duplicate(spec: EventSpec) -> ScheduledEvent | None:
    """The event this spec repeats, if any; raise if its key names another event."""
    if spec.idempotency_key is not None:
        existing = ScheduledEvent.objects.filter(
            service_id=spec.service_id, idempotency_key=spec.idempotency_key
        ).first()
        if existing is not None and not _same_event(existing, spec):
            raise IdempotencyConflict(
                {"idempotency_key": f"already used for a different event ({existing.id})"}
            )
        return existing
    return ScheduledEvent.objects.filter(
        service_id=spec.service_id,
        event_type=spec.event_type,
        entity_id=spec.entity_id,
        scheduled_time=spec.scheduled_time,
        status=EventStatus.SCHEDULED,
    ).first()


def _same_event(event: ScheduledEvent, spec: EventSpec) -> bool:
    return (
        event.event_type == spec.event_type
        and event.entity_id == spec.entity_id
        and event.scheduled_time == spec.scheduled_time
        and event.payload == spec.payload
        and event.recurrence == spec.recurrence
    )


def _create_events(specs: list[EventSpec], *, now: datetime) -> list[ScheduledEvent]:
    if not specs:
        return []
    ids = [uuid.uuid4() for _ in specs]
    tasks = beat_rows.create_periodic_tasks(specs, ids)
    events = [
        _unsaved_event(spec, event_id, task)
        for spec, event_id, task in zip(specs, ids, tasks, strict=True)
    ]
    for event in events:
        event.next_run_at = beat_rows.next_run_from_beat_row(
            event, after=now - timedelta(microseconds=1)
        )
        event.full_clean(
            exclude=["periodic_task"], validate_unique=False, validate_constraints=False
        )
    return ScheduledEvent.objects.bulk_create(events)


def _unsaved_event(spec: EventSpec, event_id: uuid.UUID, task: Any) -> ScheduledEvent:
    return ScheduledEvent(
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
        periodic_task=task,
        status=EventStatus.SCHEDULED,
    )


@transaction.atomic
def cancel_event(event_id: uuid.UUID | str) -> bool:
    """Cancel a scheduled event and disable its beat row.

    Return True if it was scheduled and is now cancelled, False if it is
    unknown or was not scheduled (already cancelled, completed or failed).
    """
    try:
        event_uuid = uuid.UUID(str(event_id))
    except ValueError:
        return False
    # A claim on the status: of two concurrent cancels, one wins.
    claimed = ScheduledEvent.objects.filter(id=event_uuid, status=EventStatus.SCHEDULED).update(
        status=EventStatus.CANCELLED, next_run_at=None, updated_at=timezone.now()
    )
    if not claimed:
        return False
    task_id = (
        ScheduledEvent.objects.filter(id=event_uuid)
        .values_list("periodic_task_id", flat=True)
        .get()
    )
    if task_id is not None:
        beat_rows.disable_periodic_tasks([task_id])
    return True


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
    ScheduledEvent.DoesNotExist if no scheduled event has this id.
    """
    old = ScheduledEvent.objects.select_for_update().get(id=event_id, status=EventStatus.SCHEDULED)
    cancel_event(old.id)
    return schedule_event(
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
