"""Write the django-celery-beat rows that mirror events, and read them back.

Rows are inserted with ``bulk_create`` on purpose: ``PeriodicTask.save()``
bumps ``PeriodicTasks.last_update``, which makes the stock scheduler reload
every enabled row and serialises concurrent bookings on that single row.
Beat finds events through ``ScheduledEvent.next_run_at`` instead, so it needs
no such signal for them.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling.recurrence import (
    Rule,
)

if TYPE_CHECKING:
    from scheduling.validation import EventSpec

from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME


def periodic_task_name(spec: EventSpec, event_id: uuid.UUID) -> str:
    # Names are unique and shown in the admin list: readable, then the id.
    return f"{spec.event_type} {spec.entity_id[:80]} {event_id}"


def create_periodic_tasks(
    specs: Sequence[EventSpec], event_ids: Sequence[uuid.UUID]
) -> list[PeriodicTask]:
    """Insert one enabled PeriodicTask per spec, in order; kwargs carry the id only."""
    tasks = [
        _unsaved_periodic_task(spec, event_id)
        for spec, event_id in zip(specs, event_ids, strict=True)
    ]
    one_offs = [(task, spec) for task, spec in zip(tasks, specs, strict=True) if spec.rule is None]
    clocks = ClockedSchedule.objects.bulk_create(
        [ClockedSchedule(clocked_time=spec.scheduled_time) for _, spec in one_offs]
    )
    for (task, _), clock in zip(one_offs, clocks, strict=True):
        task.clocked = clock
    for task, spec in zip(tasks, specs, strict=True):
        if spec.rule is not None:
            task.crontab = crontab_for(spec.rule)
    return PeriodicTask.objects.bulk_create(tasks)


def _unsaved_periodic_task(spec: EventSpec, event_id: uuid.UUID) -> PeriodicTask:
    rule = spec.rule
    return PeriodicTask(
        name=periodic_task_name(spec, event_id),
        task=EVENT_TASK_NAME,
        kwargs=json.dumps({"event_id": str(event_id)}),
        args="[]",
        queue=EVENT_QUEUE,
        one_off=rule is None,
        start_time=spec.scheduled_time if rule else None,
        expires=rule.until if rule else None,
        enabled=True,
        description=f"{spec.event_type} for {spec.entity_id} (service {spec.service_id})",
    )


def crontab_for(rule: Rule) -> CrontabSchedule:
    """The shared CrontabSchedule row for a rule's calendar in its zone."""
    crontab, _ = CrontabSchedule.objects.get_or_create(
        **dataclasses.asdict(rule.to_cron()), timezone=rule.timezone
    )
    return crontab


def disable_periodic_tasks(task_ids: Sequence[int]) -> None:
    # update() on purpose: no PeriodicTasks bump (see the module docstring).
    PeriodicTask.objects.filter(pk__in=task_ids).update(enabled=False)


def move_periodic_task(
    task: PeriodicTask | None, spec: EventSpec, event_id: uuid.UUID
) -> PeriodicTask:
    """Point an event's beat row at the spec's calendar (a clock or a crontab); return it.

    Written with update(), like every beat row of an event (see the module
    docstring). An event without a row (an admin deleted it) gets a new one.
    """
    if task is None:
        return create_periodic_tasks([spec], [event_id])[0]
    rule = spec.rule
    old_clock = task.clocked_id
    task.crontab = crontab_for(rule) if rule is not None else None
    task.clocked = (
        None
        if rule is not None
        else ClockedSchedule.objects.create(clocked_time=spec.scheduled_time)
    )
    task.one_off = rule is None
    task.start_time = spec.scheduled_time if rule else None
    task.expires = rule.until if rule else None
    # ``enabled`` stays: a row an admin disabled keeps the event from firing.
    PeriodicTask.objects.filter(pk=task.pk).update(
        crontab=task.crontab,
        clocked=task.clocked,
        one_off=task.one_off,
        start_time=task.start_time,
        expires=task.expires,
    )
    if old_clock is not None and not PeriodicTask.objects.filter(clocked_id=old_clock).exists():
        ClockedSchedule.objects.filter(pk=old_clock).delete()
    return task
