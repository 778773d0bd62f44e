"""The backend's admin: appointments and their notifications, business rules, reports.

Lists stay usable at a million rows, as the engine's: raw-id foreign keys,
related rows fetched with the list, no full result counts.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from handlers.models import (
    Appointment,
    BusinessRule,
    Notification,
    Participant,
    Report,
    ReportSchedule,
)
from handlers.rules import RULE_CHOICES
from handlers.services import appointments as appointment_services
from handlers.services.recurring import save_business_rule, save_report_schedule
from scheduling.admin.display import local_time
from scheduling.models import EventStatus, ScheduledEvent

# --- Appointments --------------------------------------------------------------


class ParticipantInline(admin.TabularInline):
    model = Participant
    raw_id_fields = ["user"]
    extra = 1


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "title",
        "resource",
        "start_user_local",
        "resource_timezone",
        "user_timezone",
        "status",
        "scheduled_events",
    ]
    list_filter = ["status", "resource_timezone", "user_timezone"]
    search_fields = ["=id", "title", "=resource"]
    inlines = [ParticipantInline]
    actions = ["reschedule_events", "cancel_events"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Appointment]:
        # One subquery for the event counts of the whole page, not one per row.
        scheduled = (
            ScheduledEvent.objects.filter(
                entity_id=Cast(
                    OuterRef("pk"), output_field=ScheduledEvent._meta.get_field("entity_id")
                ),
                status=EventStatus.SCHEDULED,
            )
            .order_by()
            .values("entity_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(event_count=Coalesce(Subquery(scheduled, output_field=IntegerField()), 0))
        )

    @admin.display(description="Start (user's zone)", ordering="start_time")
    def start_user_local(self, obj: Appointment) -> str:
        return local_time(obj.start_time, obj.user_timezone)

    @admin.display(description="Scheduled events", ordering="event_count")
    def scheduled_events(self, obj: Appointment) -> str:
        count = getattr(obj, "event_count", 0)  # annotated by get_queryset
        colour = "green" if count else "red"
        url = reverse("admin:scheduling_scheduledevent_changelist") + f"?entity_id={obj.pk}"
        return format_html('<a href="{}" style="color: {};">{} events</a>', url, colour, count)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # After the participants are saved: reminders carry their ids.
        super().save_related(request, form, formsets, change)
        appointment = form.instance
        if not change:
            appointment_services.schedule_appointment_events(appointment)
        elif {"start_time", "end_time", "title"} & set(form.changed_data):
            appointment_services.reschedule_appointment_events(appointment)

    @admin.action(
        description="Reschedule events of the selected appointments", permissions=["change"]
    )
    def reschedule_events(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        skipped = 0
        with transaction.atomic():
            for appointment in queryset:
                skipped += len(
                    appointment_services.reschedule_appointment_events(appointment).skipped
                )
        self.message_user(
            request,
            f"Rescheduled events for {queryset.count()} appointments "
            f"({skipped} reminders already past were skipped).",
        )

    @admin.action(description="Cancel events of the selected appointments", permissions=["change"])
    def cancel_events(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        with transaction.atomic():
            cancelled = sum(appointment_services.cancel_appointment_events(a) for a in queryset)
        self.message_user(
            request, f"Cancelled {cancelled} events of {queryset.count()} appointments."
        )


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "user", "appointment", "sent_at"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "appointment"]
    raw_id_fields = ["occurrence", "user", "appointment"]
    show_full_result_count = False

    # A record of what was sent: written by handlers, never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Business rules and reports -----------------------------------------------------


class BusinessRuleForm(forms.ModelForm):
    rule_key = forms.ChoiceField(choices=RULE_CHOICES)

    class Meta:
        model = BusinessRule
        fields = ["rule_key", "execution_time", "timezone", "context", "enabled"]


@admin.register(BusinessRule)
class BusinessRuleAdmin(admin.ModelAdmin):
    form = BusinessRuleForm
    list_display = ["rule_key", "execution_time", "timezone", "enabled", "event"]
    list_filter = ["enabled", "rule_key"]

    def save_model(self, request: HttpRequest, obj: BusinessRule, form: Any, change: bool) -> None:
        save_business_rule(obj)


@admin.register(ReportSchedule)
class ReportScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "by_month_day", "time_of_day", "timezone", "enabled", "event"]
    fields = ["name", "by_month_day", "time_of_day", "timezone", "enabled"]

    def save_model(
        self, request: HttpRequest, obj: ReportSchedule, form: Any, change: bool
    ) -> None:
        save_report_schedule(obj)


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["schedule", "period_start", "period_end", "row_count", "file", "created_at"]
    list_select_related = ["schedule"]
    raw_id_fields = ["occurrence"]

    # Written by the report handler, never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
