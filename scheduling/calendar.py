"""An event's calendar: its beat row (the pattern an admin may edit) and its recurrence
(the limits a crontab cannot express), read together.

Reads only, shared by the writes (beat's claims) and the reads (upcoming
events); the time rules themselves are the pure ``scheduling.recurrence``.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import TYPE_CHECKING

from scheduling import policies
from scheduling.recurrence import (
    CronPattern,
    RecurrenceError,
    Rule,
    iter_fires,
    next_fire,
    parse_recurrence,
)

if TYPE_CHECKING:
    from django_celery_beat.models import CrontabSchedule

    from scheduling.models import ScheduledEvent


def cron_pattern(crontab: CrontabSchedule) -> CronPattern:
    return CronPattern(
        minute=crontab.minute,
        hour=crontab.hour,
        day_of_month=crontab.day_of_month,
        month_of_year=crontab.month_of_year,
        day_of_week=crontab.day_of_week,
    )


def event_rule(event: ScheduledEvent) -> Rule | None:
    """The stored recurrence of an event as a Rule (None for a one-off)."""
    if event.recurrence is None:
        return None
    return parse_recurrence(
        event.recurrence, start=event.scheduled_time, default_timezone=event.execution_timezone
    )


def next_run_from_beat_row(event: ScheduledEvent, *, after: datetime) -> datetime | None:
    """When the event fires next according to its beat row; None if never.

    The beat row is the calendar (an admin may have edited it); the event's
    recurrence adds the limits a crontab cannot express. The instant is the
    slot plus the event's jitter offset, and the first after ``after``.
    """
    offset = policies.jitter_offset(event)
    slot = _next_slot(event, after=after - offset)
    return None if slot is None else slot + offset


def _next_slot(event: ScheduledEvent, *, after: datetime) -> datetime | None:
    task = event.periodic_task
    if task is None or not task.enabled:
        return None
    # No query when the task has no clock; an unsaved clock counts (a new
    # event's, inserted with its task in one statement).
    clock = task.clocked
    if clock is not None:
        return clock.clocked_time
    if task.crontab_id is None:
        return None
    crontab = task.crontab
    try:
        return next_fire(
            cron_pattern(crontab),
            str(crontab.timezone),
            after=after,
            rule=event_rule(event),
            fired=event.fired_count,
        )
    except RecurrenceError:
        # An admin typo in the crontab: the event cannot fire until fixed.
        return None


def coalesce_due_slots(event: ScheduledEvent, *, now: datetime, keep: int = 1) -> None:
    """Pass over all but the latest ``keep`` of a recurring event's slots due by ``now``.

    ``next_run_at`` moves to the oldest slot kept. Slots passed over (beat
    was down, the event was paused) count as fired, so ``count`` ends the
    rule when it would have ended. No-op for a one-off or an event with at
    most ``keep`` due slots.
    """
    task = event.periodic_task
    if event.next_run_at is None or task is None or task.crontab_id is None:
        return
    offset = policies.jitter_offset(event)
    crontab = task.crontab
    later = iter_fires(
        cron_pattern(crontab),
        str(crontab.timezone),
        after=event.next_run_at - offset,
        rule=event_rule(event),
        fired=event.fired_count + 1,
    )
    # Only the latest ``keep``: a year of hourly slots missed is not a list.
    kept, due = deque([event.next_run_at], maxlen=keep), 1
    for slot in later:
        if slot + offset > now:
            break
        kept.append(slot + offset)
        due += 1
    event.next_run_at = kept[0]
    event.fired_count += due - len(kept)
