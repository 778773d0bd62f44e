"""An event's controls in effect: its own where it set them, else its type's.

Misfire grace, catch-up of missed slots, jitter and overlap are declared per
event type (``scheduling.registry``) and may be overridden per event (the
``ScheduledEvent`` fields of the same names). Reads only; no query.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

from scheduling import misfire, registry

if TYPE_CHECKING:
    from scheduling.models import ScheduledEvent


def grace(event: ScheduledEvent) -> timedelta | None:
    """How late a firing of the event may still run; None: however late."""
    return grace_of(event.event_type, event.misfire_grace_seconds)


def grace_of(event_type: str, misfire_grace_seconds: int | None) -> timedelta | None:
    """``grace`` from the two columns it reads, for code that holds rows, not events."""
    if misfire_grace_seconds is not None:
        return timedelta(seconds=misfire_grace_seconds)
    return misfire.grace_for(event_type)


def catch_up(event: ScheduledEvent) -> str:
    if event.catch_up:
        return event.catch_up
    declared = registry.get(event.event_type)
    return "latest" if declared is None else declared.catch_up


def overlap(event: ScheduledEvent) -> str:
    if event.overlap:
        return event.overlap
    declared = registry.get(event.event_type)
    return "allow" if declared is None else declared.overlap


def jitter_window(event: ScheduledEvent) -> timedelta:
    if event.jitter_seconds is not None:
        return timedelta(seconds=event.jitter_seconds)
    declared = registry.get(event.event_type)
    return timedelta(0) if declared is None else declared.jitter


def jitter_offset(event: ScheduledEvent) -> timedelta:
    """How long after each of its slots the event fires: fixed, drawn from its id.

    The same on every machine and after every restart (a hash, not a random
    draw), in whole milliseconds from 0 to the window, spread evenly over
    many events.
    """
    window_ms = int(jitter_window(event) / timedelta(milliseconds=1))
    if window_ms <= 0:
        return timedelta(0)
    digest = hashlib.sha256(event.id.bytes).digest()
    return timedelta(milliseconds=int.from_bytes(digest[:8], "big") % (window_ms + 1))
