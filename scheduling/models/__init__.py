"""The engine's models: events and their firings, API keys and the audit log, beat's heartbeat."""

from __future__ import annotations

from scheduling.models.access import ActorType, ApiKey, AuditAction, AuditEntry
from scheduling.models.events import (
    FINAL_OCCURRENCE_STATUSES,
    CatchUp,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    Overlap,
    ScheduledEvent,
    Trigger,
    occurrence_task_id,
)
from scheduling.models.heartbeats import BeatHeartbeat, FiredBeatRows

__all__ = [
    "FINAL_OCCURRENCE_STATUSES",
    "ActorType",
    "ApiKey",
    "AuditAction",
    "AuditEntry",
    "BeatHeartbeat",
    "CatchUp",
    "EventStatus",
    "FiredBeatRows",
    "Occurrence",
    "OccurrenceStatus",
    "Overlap",
    "ScheduledEvent",
    "Trigger",
    "occurrence_task_id",
]
