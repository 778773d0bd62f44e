"""Appointments, their participants and the notifications sent about them."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from scheduling.validators import validate_timezone


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    NO_SHOW = "no_show", "no-show"


class Appointment(models.Model):
    """A booking of a resource. Its events are found by ``entity_id = str(pk)``."""

    title = models.CharField(max_length=200)
    # What is booked (a room, a practitioner): reports count per resource.
    resource = models.CharField(max_length=128)
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField()
    resource_timezone = models.CharField(max_length=64, validators=[validate_timezone])
    user_timezone = models.CharField(max_length=64, validators=[validate_timezone])
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    # Bookings left unconfirmed past a deadline are cancelled by a business rule.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Participant", related_name="appointments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=F("start_time")), name="appointment_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["status", "end_time"], name="appointment_status_end_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.start_time.isoformat()})"

    @property
    def entity_id(self) -> str:
        return str(self.pk)

    def get_local_start_time(self, tz: str | None = None) -> datetime:
        """The start in ``tz``, by default the user's zone."""
        return self.start_time.astimezone(zoneinfo.ZoneInfo(tz or self.user_timezone))

    def get_resource_start_time(self) -> datetime:
        return self.start_time.astimezone(zoneinfo.ZoneInfo(self.resource_timezone))


class Participant(models.Model):
    """A user taking part in an appointment, with the zone to show them times in."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    # Empty: the appointment's user timezone.
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["appointment", "user"], name="participant_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.appointment_id}"

    @property
    def display_timezone(self) -> str:
        return self.timezone or self.appointment.user_timezone


class Notification(models.Model):
    """The outbox: one row per recipient per firing; its e-mail is sent once."""

    occurrence = models.ForeignKey(
        "scheduling.Occurrence", on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    appointment = models.ForeignKey(
        Appointment, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=64)  # reminder_type or follow_up_type
    subject = models.CharField(max_length=255)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Running a firing twice writes one notification per recipient.
            models.UniqueConstraint(
                fields=["occurrence", "user", "kind"], name="notification_once_per_firing"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user} ({'sent' if self.sent_at else 'pending'})"
