"""The engine's models: events and their firings, API keys and the audit log, beat's heartbeat."""

from __future__ import annotations

from scheduling.models.access import ActorType, ApiKey, AuditAction, AuditEntry
from scheduling.models.events import (
    FINAL_OCCURRENCE_STATUSES,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    occurrence_task_id,
)
from scheduling.models.heartbeats import BeatHeartbeat

__all__ = [
    "FINAL_OCCURRENCE_STATUSES",
    "ActorType",
    "ApiKey",
    "AuditAction",
    "AuditEntry",
    "BeatHeartbeat",
    "EventStatus",
    "Occurrence",
    "OccurrenceStatus",
    "ScheduledEvent",
    "occurrence_task_id",
]
