"""Who may use the HTTP API, and the record of what everyone did.

``ApiKey`` binds a secret to one ``service_id``: the key is shown once when it
is made and only its SHA-256 digest is kept. ``AuditEntry`` is append-only:
nothing in the project updates or deletes one.
"""

from __future__ import annotations

from django.db import models


class ApiKey(models.Model):
    service_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=100, blank=True, help_text="What the key is for.")
    # The public first part of the key, to find its row without the secret.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    # hex SHA-256 of the whole key. Keys are 256 random bits, so a slow
    # password hash would add nothing but latency to every request.
    digest = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["service_id", "-created_at"]

    def __str__(self) -> str:
        return f"{self.service_id}: {self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ActorType(models.TextChoices):
    SERVICE = "service"  # an API caller, authenticated by its key
    USER = "user"  # a person signed in to the admin
    SYSTEM = "system"  # project code: beat, worker, management commands


class AuditAction(models.TextChoices):
    SCHEDULE = "event.schedule"
    CANCEL = "event.cancel"
    RESCHEDULE = "event.reschedule"
    # The admin's event editor: fields saved (their names only), or the row deleted.
    CHANGE = "event.change"
    DELETE = "event.delete"
    # A failed occurrence sent again, or a run started by hand (the admin's actions).
    RETRY = "event.retry"
    RUN = "event.run"
    PAUSE = "event.pause"
    RESUME = "event.resume"
    BACKFILL = "event.backfill"
    KEY_CREATE = "api_key.create"
    KEY_CHANGE = "api_key.change"
    KEY_REVOKE = "api_key.revoke"


class AuditEntry(models.Model):
    at = models.DateTimeField(db_index=True)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor = models.CharField(max_length=150, help_text="Service id, username or process.")
    address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    # An event id or an API key prefix. Indexed in Meta, not here: a field's
    # db_index adds a second, LIKE-only index on PostgreSQL, written for every
    # event scheduled and read by nothing.
    target = models.CharField(max_length=64)
    # What identifies the change; never payloads (they are secret at rest).
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "audit entries"
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target"], name="audit_target_idx"),
            # The admin's search by who acted, newest first, without reading the
            # whole log (it grows by an entry per event scheduled).
            models.Index(fields=["actor", "at"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.target}"
