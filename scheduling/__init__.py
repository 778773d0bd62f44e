"""The scheduling domain: scheduled events, their beat rows and their firings.

The public API, importable from here::

    from scheduling import schedule_event, schedule_events, cancel_event
    from scheduling import reschedule_event, get_upcoming_events
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EventValidationError",
    "IdempotencyConflict",
    "cancel_event",
    "get_upcoming_events",
    "reschedule_event",
    "schedule_event",
    "schedule_events",
]

_WRITES = {"schedule_event", "schedule_events", "cancel_event", "reschedule_event"}
_ERRORS = {"EventValidationError", "IdempotencyConflict"}


def __getattr__(name: str) -> Any:
    # Imported lazily: this package is a Django app, and its models cannot be
    # imported before the app registry is ready.
    if name in _WRITES:
        from scheduling.services import events

        return getattr(events, name)
    if name == "get_upcoming_events":
        from scheduling.selectors import get_upcoming_events

        return get_upcoming_events
    if name in _ERRORS:
        from scheduling import exceptions

        return getattr(exceptions, name)
    raise AttributeError(f"module 'scheduling' has no attribute {name!r}")
