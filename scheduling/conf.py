"""The engine's names and the defaults of its settings, in one place.

A project that installs the engine needs to set none of the ``SCHEDULING_*``
settings: ``apply_defaults()`` (run when the app loads) fills in every one
the project left out. The example project (``project/settings.py``) reads
them from the environment instead; README.md lists them.

Importable from a settings module: nothing here touches Django at import.
"""

from __future__ import annotations

from typing import Any

# The one task the engine publishes, and the queue it publishes it on.
EVENT_TASK_NAME = "backend.process_event"
EVENT_QUEUE = "backend-events"

DEFAULTS: dict[str, Any] = {
    # Largest accepted payload, measured as compact UTF-8 JSON.
    "SCHEDULING_MAX_PAYLOAD_BYTES": 64 * 1024,
    # Fernet keys (first encrypts, all decrypt); empty: one derived from SECRET_KEY.
    "SCHEDULING_PAYLOAD_KEYS": [],
    # Longest beat sleep: bounds the delay before an event inserted meanwhile is seen.
    "SCHEDULING_BEAT_POLL_SECONDS": 0.25,
    # PostgreSQL: beat waits on LISTEN/NOTIFY instead of polling (off: it polls).
    "SCHEDULING_BEAT_LISTEN": True,
    # While listening: longest time beat goes without reading the next firing,
    # which bounds the delay of a write whose notice was lost.
    "SCHEDULING_BEAT_RECHECK_SECONDS": 5.0,
    # One beat holds a lock and the others stand by (claims stay safe without it).
    "SCHEDULING_BEAT_LOCK": True,
    # Where the SQLite beat lock file lives; None: beside the database file.
    "SCHEDULING_LOCK_DIR": None,
    # A published message counts as lost after this (doubled per republish).
    "SCHEDULING_SENT_REPUBLISH_SECONDS": 120,
    # A running occurrence's lease, renewed by its worker every third of it.
    "SCHEDULING_OCCURRENCE_LEASE_SECONDS": 60,
    "SCHEDULING_BEAT_BATCH_SIZE": 500,
    # Retries of transient handler errors, for types that declare none.
    "SCHEDULING_TASK_MAX_RETRIES": 5,
    "SCHEDULING_RETRY_BACKOFF_SECONDS": 10,
    "SCHEDULING_RETRY_BACKOFF_MAX_SECONDS": 600,
    # Per type name, seconds (None: however late): overrides a type's declaration.
    "SCHEDULING_MISFIRE_GRACE_SECONDS": {},
    "SCHEDULING_UPCOMING_MAX_PER_EVENT": 100,
    # catch_up="each": at most this many missed slots of an event run (the latest).
    "SCHEDULING_CATCH_UP_MAX_SLOTS": 24,
    # catch_up="skip": a slot claimed more than this late counts as missed.
    "SCHEDULING_CATCH_UP_ON_TIME_SECONDS": 60,
    "SCHEDULING_BEAT_HEARTBEAT_SECONDS": 5.0,
    "SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS": 60.0,
    # The HTTP API: units per key per window, bulk size.
    "SCHEDULING_API_RATE_LIMIT": 1200,
    "SCHEDULING_API_RATE_WINDOW_SECONDS": 60,
    "SCHEDULING_API_BULK_MAX_EVENTS": 500,
    # The cache alias that counts API requests; falls back to "default".
    "SCHEDULING_API_RATE_CACHE": "ratelimit",
    # GET /metrics: a bearer token that may read it (empty: staff users only).
    "SCHEDULING_METRICS_TOKEN": "",
    # The full count of events by status is read at most this often per process.
    "SCHEDULING_METRICS_STATUS_COUNT_SECONDS": 60.0,
    # The due backlog is counted up to this many events.
    "SCHEDULING_METRICS_COUNT_LIMIT": 100_000,
}


def apply_defaults() -> None:
    """Give every ``SCHEDULING_*`` setting the project did not set its default."""
    from django.conf import settings

    for name, value in DEFAULTS.items():
        if not hasattr(settings, name):
            setattr(settings, name, value)
