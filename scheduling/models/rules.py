"""Business rules and monthly reports: recurring work configured in the admin."""

from __future__ import annotations

from django.db import models

from scheduling.models.events import Occurrence, ScheduledEvent
from scheduling.models.fields import EncryptedJSONField
from scheduling.validators import validate_timezone


class BusinessRule(models.Model):
    """A rule function (see ``scheduling.rules``) run every day at a local time."""

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
        ordering = ["-period_start"]

    def __str__(self) -> str:
        return f"{self.schedule} {self.period_start:%Y-%m}"
