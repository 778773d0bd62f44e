"""Write the django-celery-beat rows that mirror events, and read them back.

Rows are inserted without ``save()`` on purpose (``bulk_create``, or
``bulk_insert`` for large batches): ``PeriodicTask.save()``
bumps ``PeriodicTasks.last_update``, which makes the stock scheduler reload
every enabled row and serialises concurrent bookings on that single row.
Beat finds events through ``ScheduledEvent.next_run_at`` instead, so it needs
no such signal for them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from django.db import connection
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling.recurrence import (
    Rule,
)

if TYPE_CHECKING:
    from scheduling.validation import EventSpec

from scheduling import bulk_insert
from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME


def periodic_task_name(spec: EventSpec, event_id: uuid.UUID) -> str:
    # Names are unique and shown in the admin list: readable, then the id.
    return f"{spec.event_type} {spec.entity_id[:80]} {event_id}"


def create_periodic_tasks(
    specs: Sequence[EventSpec], event_ids: Sequence[uuid.UUID]
) -> list[PeriodicTask]:
    """Insert one enabled PeriodicTask per spec, in order; kwargs carry the id only."""
    tasks = unsaved_periodic_tasks(specs, event_ids)
    bulk_insert.insert(tasks)
    return tasks


def unsaved_periodic_tasks(
    specs: Sequence[EventSpec], event_ids: Sequence[uuid.UUID], *, insert_clocks: bool = True
) -> list[PeriodicTask]:
    """``create_periodic_tasks`` but for the tasks' own insert, left to the caller.

    Their calendars are written: each one-off's ClockedSchedule, and the
    crontabs they share. A task's ``clocked`` is set, so that the event's
    next run can be read from it before the task is inserted. With
    ``insert_clocks`` false the clocks are left unsaved too, for a caller
    that inserts each with its task in one statement
    (``bulk_insert.insert_linked``).
    """
    tasks = [
        _unsaved_periodic_task(spec, event_id)
        for spec, event_id in zip(specs, event_ids, strict=True)
    ]
    one_offs = [(task, spec) for task, spec in zip(tasks, specs, strict=True) if spec.rule is None]
    clocks = [
        bulk_insert.build(ClockedSchedule, clocked_time=spec.scheduled_time) for _, spec in one_offs
    ]
    if insert_clocks:
        bulk_insert.insert(clocks)
    for (task, _), clock in zip(one_offs, clocks, strict=True):
        bulk_insert.relate(task, "clocked", clock)
    keys = {i: cron_key(spec.rule) for i, spec in enumerate(specs) if spec.rule is not None}
    crontabs = crontabs_of(keys.values())
    for i, key in keys.items():
        bulk_insert.relate(tasks[i], "crontab", crontabs[key])
    return tasks


def _unsaved_periodic_task(spec: EventSpec, event_id: uuid.UUID) -> PeriodicTask:
    rule = spec.rule
    return bulk_insert.build(
        PeriodicTask,
        name=periodic_task_name(spec, event_id),
        task=EVENT_TASK_NAME,
        # json.dumps({"event_id": str(event_id)}), without its encoder: a
        # UUID's text needs no escaping.
        kwargs=f'{{"event_id": "{event_id}"}}',
        args="[]",
        queue=EVENT_QUEUE,
        one_off=rule is None,
        start_time=spec.scheduled_time if rule else None,
        expires=rule.until if rule else None,
        enabled=True,
        description=f"{spec.event_type} for {spec.entity_id} (service {spec.service_id})",
        interval_id=None,
        solar_id=None,
        clocked_id=None,
        crontab_id=None,
    )


def crontab_for(rule: Rule) -> CrontabSchedule:
    """The shared CrontabSchedule row for a rule's calendar in its zone."""
    key = cron_key(rule)
    return crontabs_of([key])[key]


# A crontab's pattern fields, in CrontabSchedule's order, then its zone.
CronKey = tuple[str, str, str, str, str, str]


def cron_key(rule: Rule) -> CronKey:
    cron = rule.to_cron()
    # Not dataclasses.astuple: it deep-copies each field, a tenth of a
    # recurring event's share of a bulk call.
    return (
        cron.minute,
        cron.hour,
        cron.day_of_month,
        cron.month_of_year,
        cron.day_of_week,
        rule.timezone,
    )


def crontabs_of(keys: Iterable[CronKey]) -> dict[CronKey, CrontabSchedule]:
    """The shared CrontabSchedule row of each distinct calendar and zone among ``keys``.

    One query reads the rows that exist (chunked by pattern); those missing
    are inserted in one statement. CrontabSchedule has no unique constraint
    (it is django-celery-beat's table), so two bookings creating the same
    pattern at once are kept from making two rows by a lock per pattern
    (PostgreSQL; SQLite runs one writer at a time). A pattern that has
    several rows anyway (an admin can add one) gets its oldest.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    found = _existing_crontabs(wanted)
    missing = [key for key in wanted if key not in found]
    if missing:
        _lock_patterns(missing)
        # Read again under the locks: a booking that held one has committed its row.
        found.update(_existing_crontabs(missing))
        missing = [key for key in missing if key not in found]
        created = CrontabSchedule.objects.bulk_create(
            [CrontabSchedule(**dict(zip(_CRON_FIELDS, key, strict=True))) for key in missing]
        )
        found.update(zip(missing, created, strict=True))
    return found


_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week", "timezone")
# Patterns per lookup: six parameters each, within SQLite's oldest limit of 999.
_CRON_CHUNK = 100
# The first key of the two-key advisory locks taken here: any constant,
# apart from the beat lock's (scheduling.leader), which is a one-key lock.
_CRONTAB_LOCK_CLASS = 0x5C4E


def _existing_crontabs(keys: Sequence[CronKey]) -> dict[CronKey, CrontabSchedule]:
    # One row-value IN per chunk: the ORM's OR of six-column ANDs took
    # 3.6 ms to build and compile for 20 patterns against 0.6 ms for the
    # query, once per bulk call and per recurring event scheduled alone.
    found: dict[CronKey, CrontabSchedule] = {}
    quote = connection.ops.quote_name
    table = quote(CrontabSchedule._meta.db_table)
    columns = ", ".join(quote(name) for name in _CRON_FIELDS)
    pk = quote("id")
    for start in range(0, len(keys), _CRON_CHUNK):
        chunk = keys[start : start + _CRON_CHUNK]
        marks = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
        rows = CrontabSchedule.objects.raw(
            f"SELECT * FROM {table} WHERE ({columns}) IN (VALUES {marks}) ORDER BY {pk}",  # noqa: S608
            [value for key in chunk for value in key],
        )
        for crontab in rows:
            found.setdefault(_row_key(crontab), crontab)
    return found


def _row_key(crontab: CrontabSchedule) -> CronKey:
    return (
        crontab.minute,
        crontab.hour,
        crontab.day_of_month,
        crontab.month_of_year,
        crontab.day_of_week,
        str(crontab.timezone),
    )


def _lock_patterns(keys: Sequence[CronKey]) -> None:
    """Hold, until the transaction ends, a lock on creating each pattern (PostgreSQL).

    Taken in one order (sorted), so two bookings never wait on each other in a
    cycle. Two patterns sharing a hash only wait for each other needlessly.
    """
    if connection.vendor != "postgresql":
        return
    hashes = sorted({_lock_id(key) for key in keys})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, h) FROM unnest(%s::int[]) AS h",
            [_CRONTAB_LOCK_CLASS, hashes],
        )


def _lock_id(key: CronKey) -> int:
    # A signed 32-bit int, as pg_advisory_xact_lock(int, int) takes; stable
    # across processes (unlike hash()).
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


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
