"""An event scheduler for Django on Celery: the engine.

The public API, importable from here (everything else is the engine's own)::

    from scheduling import schedule_event, schedule_events, cancel_event, reschedule_event
    from scheduling import update_event, run_event_now
    from scheduling import get_upcoming_events, scheduled_events_for_entity
    from scheduling import event_type, SkipOccurrence, PermanentError
    from scheduling import EventValidationError, IdempotencyConflict, Cancellation

plus the models in ``scheduling.models`` (``ScheduledEvent``, ``Occurrence``
and their statuses), ``scheduling.models.fields.EncryptedJSONField`` and the
checks in ``scheduling.validators``. See docs/install.md.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Cancellation",
    "EventValidationError",
    "IdempotencyConflict",
    "PermanentError",
    "SkipOccurrence",
    "cancel_event",
    "event_type",
    "get_upcoming_events",
    "reschedule_event",
    "run_event_now",
    "schedule_event",
    "schedule_events",
    "scheduled_events_for_entity",
    "update_event",
]

# Name → module that defines it. Imported lazily: this package is a Django
# app, and its models cannot be imported before the app registry is ready
# (a handler module may still say ``from scheduling import event_type`` at
# the top: the registry and the outcomes import no model).
_PUBLIC = {
    "schedule_event": "scheduling.services.events",
    "schedule_events": "scheduling.services.events",
    "cancel_event": "scheduling.services.events",
    "reschedule_event": "scheduling.services.events",
    "update_event": "scheduling.services.events",
    "run_event_now": "scheduling.services.events",
    "Cancellation": "scheduling.services.events",
    "get_upcoming_events": "scheduling.selectors",
    "scheduled_events_for_entity": "scheduling.selectors",
    "EventValidationError": "scheduling.exceptions",
    "IdempotencyConflict": "scheduling.exceptions",
    "event_type": "scheduling.registry",
    "SkipOccurrence": "scheduling.outcomes",
    "PermanentError": "scheduling.outcomes",
}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'scheduling' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
