"""Scheduled events and the history of their firings.

Each ``ScheduledEvent`` has one django-celery-beat ``PeriodicTask`` (the row
the admin's periodic-task editor shows). Beat dispatches from the event's
indexed ``next_run_at``; the beat row is the editable calendar and is kept in
step by ``scheduling.signals``.
"""

from __future__ import annotations

import hashlib
import uuid

from django.db import models
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from scheduling.models.fields import EncryptedJSONField
from scheduling.uuid_text import uuid_text


class EventStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"
    # A one-off reached too late to be worth running (see scheduling.misfire).
    MISSED = "missed"
    # Fires nothing until resumed (scheduling.services.controls).
    PAUSED = "paused"


class CatchUp(models.TextChoices):
    """What a recurring event does with slots it missed (beat down, paused)."""

    # The latest missed slot runs once (within the grace); the others are passed over.
    LATEST = "latest"
    # No missed slot runs: the event continues at its next slot after now.
    SKIP = "skip"
    # Each missed slot runs, oldest first, at most SCHEDULING_CATCH_UP_MAX_SLOTS of them.
    EACH = "each"


class Overlap(models.TextChoices):
    """Whether a recurring event's slot runs while its previous firing is unfinished."""

    ALLOW = "allow"
    # The slot is recorded as skipped, with the reason.
    SKIP = "skip"


class ScheduledEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A name registered with scheduling.event_type(); not a closed list of
    # choices, so an app declares its own types without touching the engine.
    event_type = models.CharField(max_length=64)
    service_id = models.CharField(max_length=64, default="backend")
    # Indexed in Meta, not here: a field's db_index adds a second, LIKE-only
    # index on PostgreSQL that nothing here queries and every write updates.
    entity_id = models.CharField(max_length=128)
    # The one-off instant, or the first instant a recurring event may fire.
    scheduled_time = models.DateTimeField()
    resource_timezone = models.CharField(max_length=64)
    user_timezone = models.CharField(max_length=64)
    execution_timezone = models.CharField(max_length=64)
    # Encrypted at rest; never filtered on (see EncryptedJSONField).
    payload = EncryptedJSONField(default=dict, blank=True)
    recurrence = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=EventStatus.choices, default=EventStatus.SCHEDULED
    )
    # Given by the caller; a retry with the same key returns the same event.
    # NULL, not "", when absent: the unique constraint covers given keys only.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # The next instant beat must fire this event; None when nothing is left
    # to fire (cancelled, fired one-off, exhausted rule, disabled beat row).
    next_run_at = models.DateTimeField(null=True, blank=True)
    # Firings claimed so far: the recurrence's ``count`` is checked against it.
    fired_count = models.PositiveIntegerField(default=0)
    # When it was paused (status "paused"); its missed slots are counted from here.
    paused_at = models.DateTimeField(null=True, blank=True)
    # Controls that override the event type's (scheduling.policies); empty or
    # NULL: the type's.
    misfire_grace_seconds = models.PositiveIntegerField(null=True, blank=True)
    catch_up = models.CharField(max_length=8, choices=CatchUp.choices, blank=True, default="")
    jitter_seconds = models.PositiveIntegerField(null=True, blank=True)
    overlap = models.CharField(max_length=8, choices=Overlap.choices, blank=True, default="")
    periodic_task = models.OneToOneField(
        PeriodicTask,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="scheduled_event",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: set on the event reschedule_event returns, true when a
    # firing of the event it replaced was already running (it runs to its end).
    replaced_firing_in_progress: bool = False

    class Meta:
        ordering = ["scheduled_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_id", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="event_unique_idempotency_key_per_service",
            ),
            # Scheduling the same thing twice must not create a second event;
            # cancelled and finished events do not block a new one.
            models.UniqueConstraint(
                fields=["service_id", "event_type", "entity_id", "scheduled_time"],
                condition=Q(status="scheduled"),
                name="event_unique_active_natural_key",
            ),
        ]
        indexes = [
            # Beat's only hot query: what is due, oldest first.
            models.Index(
                fields=["next_run_at"],
                condition=Q(status="scheduled", next_run_at__isnull=False),
                name="event_due_idx",
            ),
            models.Index(fields=["service_id", "entity_id"], name="event_service_entity_idx"),
            models.Index(fields=["entity_id"], name="event_entity_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} for {self.entity_id} ({self.id})"

    @property
    def is_recurring(self) -> bool:
        return self.recurrence is not None

    @property
    def timezone_context(self) -> dict[str, str]:
        return {
            "resource_timezone": self.resource_timezone,
            "user_timezone": self.user_timezone,
            "execution_timezone": self.execution_timezone,
        }


class OccurrenceStatus(models.TextChoices):
    CLAIMED = "claimed"
    SENT = "sent"
    RUNNING = "running"
    # An attempt failed; the next waits for its backoff (a message with an ETA).
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"


# An occurrence in one of these states never runs its handler again.
FINAL_OCCURRENCE_STATUSES = (
    OccurrenceStatus.SUCCEEDED,
    OccurrenceStatus.FAILED,
    OccurrenceStatus.SKIPPED,
    OccurrenceStatus.MISSED,
)


def occurrence_task_id(event_id: uuid.UUID | str, scheduled_for_iso: str) -> str:
    """The Celery task id of an occurrence: the same firing, the same id.

    ``str(uuid.uuid5(uuid.NAMESPACE_URL, f"occurrence:{event_id}:{scheduled_for_iso}"))``,
    written out: beat works one out for every firing it claims, and the
    ``UUID`` object built and formatted on the way was two thirds of the cost.
    ``event_id`` as a UUID or its text (``str(uuid)``: lower case, dashed).
    """
    name = f"occurrence:{event_id}:{scheduled_for_iso}".encode()
    digest = hashlib.sha1(_URL_NAMESPACE + name, usedforsecurity=False).hexdigest()
    return uuid_text(digest, version=5)  # uuid5 keeps the SHA-1's first 128 bits


_URL_NAMESPACE = uuid.NAMESPACE_URL.bytes


class Trigger(models.TextChoices):
    """What made an occurrence: its schedule, a person (run now), or a backfill."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"


class Occurrence(models.Model):
    """One firing of an event: its claim, its run history and its outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: occurrence_unique_event_instant leads with it.
    event = models.ForeignKey(
        ScheduledEvent, on_delete=models.CASCADE, related_name="occurrences", db_index=False
    )
    scheduled_for = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=OccurrenceStatus.choices, default=OccurrenceStatus.CLAIMED
    )
    # Unique by a constraint in Meta, without the LIKE-only index of unique=True.
    task_id = models.CharField(max_length=64)
    # A manual or backfilled firing is due when asked for: no misfire grace.
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULE)
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Until when the occurrence's current holder answers for it: beat (a
    # claim to publish), the broker (a message sent), a worker (running,
    # renewed while the handler runs) or a retry's backoff. Past it, beat
    # publishes the occurrence again (scheduling.services.recovery).
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Times beat published the occurrence again because its message looked
    # lost: each doubles the wait before the next.
    republish_count = models.PositiveIntegerField(default=0)
    # Encrypted at rest: an error or a result may quote payload values.
    # NULL when there is none, so a claim costs no encryption.
    error = EncryptedJSONField(null=True, blank=True)
    result = EncryptedJSONField(null=True, blank=True)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            # The claim: one firing per event and instant, whoever asks.
            models.UniqueConstraint(
                fields=["event", "scheduled_for"], name="occurrence_unique_event_instant"
            ),
            # Celery's task id: a redelivered message finds its occurrence.
            models.UniqueConstraint(fields=["task_id"], name="occurrence_unique_task_id"),
        ]
        indexes = [
            models.Index(fields=["status", "claimed_at"], name="occurrence_status_idx"),
            models.Index(fields=["finished_at"], name="occurrence_finished_idx"),
            # The operations dashboard (scheduling.dashboard): the latest failures,
            # without sorting every failure ever recorded.
            models.Index(
                fields=["finished_at"], condition=Q(status="failed"), name="occurrence_failed_idx"
            ),
            # The dashboard's firing lag: the last day's firings by instant due.
            models.Index(fields=["scheduled_for"], name="occurrence_scheduled_for_idx"),
            # Beat's recovery sweep: unfinished occurrences whose lease lapsed.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status__in=["claimed", "sent", "running", "retrying"]),
                name="occurrence_lease_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} @ {self.scheduled_for.isoformat()} ({self.status})"
