"""An event's calendar: its beat row (the pattern an admin may edit) and its recurrence
(the limits a crontab cannot express), read together.

Reads only, shared by the writes (beat's claims) and the reads (upcoming
events); the time rules themselves are the pure ``scheduling.recurrence``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

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
    recurrence adds the limits a crontab cannot express.
    """
    task = event.periodic_task
    if task is None or not task.enabled:
        return None
    if task.clocked_id is not None:
        return task.clocked.clocked_time
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


def coalesce_due_slots(event: ScheduledEvent, *, now: datetime) -> None:
    """Move a recurring event's ``next_run_at`` to its latest slot due by ``now``.

    Slots passed over (beat was down) count as fired, so ``count`` ends the
    rule when it would have ended; only the latest is claimed. No-op for a
    one-off or an event with at most one due slot.
    """
    task = event.periodic_task
    if event.next_run_at is None or task is None or task.crontab_id is None:
        return
    crontab = task.crontab
    later = iter_fires(
        cron_pattern(crontab),
        str(crontab.timezone),
        after=event.next_run_at,
        rule=event_rule(event),
        fired=event.fired_count + 1,
    )
    for slot in later:
        if slot > now:
            return
        event.next_run_at = slot
        event.fired_count += 1
