"""Rows for the operations dashboard's tests: events, firings and heartbeats, made directly."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from scheduling.models import (
    BeatHeartbeat,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    occurrence_task_id,
)

_serial = itertools.count()

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "handlers/reminders.py", line 40, in handle\n'
    "smtplib.SMTPServerDisconnected: Connection unexpectedly closed\n"
)


def event(
    *,
    next_run_at: datetime | None,
    event_type: str = "APPOINTMENT_REMINDER",
    status: str = EventStatus.SCHEDULED,
    entity_id: str | None = None,
) -> ScheduledEvent:
    """A scheduled event without its beat row: the dashboard reads ``next_run_at`` only."""
    n = next(_serial)
    when = next_run_at or datetime.fromisoformat("2026-11-01T09:00:00+00:00")
    return ScheduledEvent.objects.create(
        event_type=event_type,
        entity_id=entity_id or f"appt-{n}",
        scheduled_time=when,
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
        execution_timezone="America/New_York",
        status=status,
        next_run_at=next_run_at,
    )


def firing(
    owner: ScheduledEvent,
    *,
    scheduled_for: datetime,
    status: str = OccurrenceStatus.SUCCEEDED,
    lag: float | None = 0.2,
    started_lag: float | None = None,
    finished_at: datetime | None = None,
    error: Any = None,
) -> Occurrence:
    """A firing of ``owner``: sent ``lag`` seconds after it was due (None: never sent).

    Finished a second after it was due unless ``finished_at`` says otherwise,
    or unfinished for a status that is not final.
    """
    final = status in {"succeeded", "failed", "skipped", "missed"}
    sent_at = None if lag is None else scheduled_for + timedelta(seconds=lag)
    started_at = None if started_lag is None else scheduled_for + timedelta(seconds=started_lag)
    if final and finished_at is None:
        finished_at = scheduled_for + timedelta(seconds=1)
    return Occurrence.objects.create(
        event=owner,
        scheduled_for=scheduled_for,
        status=status,
        task_id=occurrence_task_id(owner.id, f"{scheduled_for.isoformat()}-{uuid.uuid4()}"),
        attempts=1,
        claimed_at=scheduled_for,
        sent_at=sent_at,
        started_at=started_at,
        finished_at=finished_at,
        error=error,
    )


def heartbeat(instance: str, *, last_tick_at: datetime, is_leader: bool) -> BeatHeartbeat:
    return BeatHeartbeat.objects.create(
        instance=instance,
        started_at=last_tick_at - timedelta(days=2),
        last_tick_at=last_tick_at,
        is_leader=is_leader,
    )


# Weights of the backend's types, as the appointment backend books them.
DEMO_TYPES = (
    ("APPOINTMENT_REMINDER", 8),
    ("APPOINTMENT_FOLLOW_UP", 3),
    ("BUSINESS_RULE", 2),
    ("REPORT_GENERATION", 1),
    ("DATA_CLEANUP", 1),
)


def demo(now: datetime, *, upcoming: int = 240, recent: int = 300, seed: int = 17) -> None:
    """A day of a small deployment: events coming over 24 h, the last day's firings, two beats.

    Firings: 93 % succeeded, the rest failed, skipped or missed; lag mostly
    under 0.3 s with a tail of seconds. Three due events form a small backlog.
    """
    rng = random.Random(seed)
    names = [name for name, _ in DEMO_TYPES]
    weights = [weight for _, weight in DEMO_TYPES]
    ScheduledEvent.objects.bulk_create(
        _demo_event(now + timedelta(hours=24) * rng.random() ** 1.2, rng.choices(names, weights)[0])
        for _ in range(upcoming)
    )
    for seconds_late in (40, 12, 3):
        event(next_run_at=now - timedelta(seconds=seconds_late))
    past = [
        event(next_run_at=None, status=EventStatus.COMPLETED, event_type=names[i % len(names)])
        for i in range(12)
    ]
    statuses = ["succeeded"] * 93 + ["failed"] * 4 + ["skipped"] * 2 + ["missed"]
    for i in range(recent):
        at = now - timedelta(days=1) * (i + 0.5) / recent
        status = rng.choice(statuses)
        lag = None if status == "missed" else 0.03 + rng.random() * 0.25 + rng.random() ** 14 * 6
        firing(
            past[i % len(past)],
            scheduled_for=at,
            status=status,
            lag=lag,
            error=TRACEBACK if status == "failed" else None,
        )
    heartbeat("beat-1.example:4101", last_tick_at=now - timedelta(seconds=2), is_leader=True)
    heartbeat("beat-2.example:4102", last_tick_at=now - timedelta(seconds=4), is_leader=False)


def _demo_event(when: datetime, event_type: str) -> ScheduledEvent:
    n = next(_serial)
    return ScheduledEvent(
        event_type=event_type,
        entity_id=f"appt-{n}",
        scheduled_time=when,
        resource_timezone="America/New_York",
        user_timezone="Europe/London",
        execution_timezone="America/New_York",
        next_run_at=when,
    )
