"""The domain's models: events and their firings, the appointment system, beat's heartbeat."""

from __future__ import annotations

from scheduling.models.access import ActorType, ApiKey, AuditAction, AuditEntry
from scheduling.models.appointments import (
    Appointment,
    AppointmentStatus,
    Notification,
    Participant,
)
from scheduling.models.events import (
    FINAL_OCCURRENCE_STATUSES,
    EventStatus,
    EventType,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    occurrence_task_id,
)
from scheduling.models.heartbeats import BeatHeartbeat
from scheduling.models.rules import BusinessRule, Report, ReportSchedule

__all__ = [
    "FINAL_OCCURRENCE_STATUSES",
    "ActorType",
    "ApiKey",
    "Appointment",
    "AppointmentStatus",
    "AuditAction",
    "AuditEntry",
    "BeatHeartbeat",
    "BusinessRule",
    "EventStatus",
    "EventType",
    "Notification",
    "Occurrence",
    "OccurrenceStatus",
    "Participant",
    "Report",
    "ReportSchedule",
    "ScheduledEvent",
    "occurrence_task_id",
]
