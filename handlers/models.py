"""The backend's domain: appointments, their participants and notifications; business
rules and monthly reports.

These tables were created by the engine app when it still held the backend;
they keep their names (``scheduling_*``) so moving the models to this app
moved no row (migration 0001 here, 0010 in ``scheduling``).
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from scheduling.models import Occurrence, ScheduledEvent
from scheduling.models.fields import EncryptedJSONField
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
        db_table = "scheduling_appointment"
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
        db_table = "scheduling_participant"
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
        Occurrence, on_delete=models.CASCADE, related_name="notifications"
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
        db_table = "scheduling_notification"
        ordering = ["-created_at"]
        constraints = [
            # Running a firing twice writes one notification per recipient.
            models.UniqueConstraint(
                fields=["occurrence", "user", "kind"], name="notification_once_per_firing"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} to {self.user} ({'sent' if self.sent_at else 'pending'})"


class BusinessRule(models.Model):
    """A rule function (see ``handlers.rules``) run every day at a local time."""

    rule_key = models.CharField(max_length=64)
    execution_time = models.TimeField(help_text="Local time of day in the rule's timezone")
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    # Copied into the payload of the rule's event, so encrypted at rest like it.
    context = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    # The recurring event that runs it; replaced whenever the schedule changes.
    event = models.OneToOneField(
        ScheduledEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "scheduling_businessrule"

    def __str__(self) -> str:
        return f"{self.rule_key} at {self.execution_time} {self.timezone}"

    @property
    def entity_id(self) -> str:
        return f"business-rule:{self.pk}"


class ReportSchedule(models.Model):
    """A monthly report: on ``by_month_day`` (-1: last day) at a local time."""

    name = models.CharField(max_length=100, unique=True)
    by_month_day = models.SmallIntegerField(default=1)
    time_of_day = models.TimeField()
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    enabled = models.BooleanField(default=True)
    event = models.OneToOneField(
        ScheduledEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        db_table = "scheduling_reportschedule"

    def __str__(self) -> str:
        return self.name

    @property
    def entity_id(self) -> str:
        return f"report-schedule:{self.pk}"


class Report(models.Model):
    """A generated report file; one per firing of its schedule."""

    schedule = models.ForeignKey(ReportSchedule, on_delete=models.CASCADE, related_name="reports")
    occurrence = models.OneToOneField(Occurrence, null=True, on_delete=models.SET_NULL)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    file = models.FileField(upload_to="reports/")
    row_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "scheduling_report"
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"{self.schedule} {self.period_start:%Y-%m}"
