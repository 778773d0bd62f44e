"""The admin: appointments, events and their run history, rules, reports, beat rows.

Every list is meant to stay usable at a million rows: foreign keys are
raw-id fields, related rows are fetched with the list (no per-row queries)
and full result counts are not computed.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Cast, Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from project.celery import app as celery_app
from scheduling import audit
from scheduling.admin_audit import AuditedAdmin
from scheduling.models import (
    Appointment,
    AuditAction,
    BusinessRule,
    EventStatus,
    Notification,
    Occurrence,
    OccurrenceStatus,
    Participant,
    Report,
    ReportSchedule,
    ScheduledEvent,
)
from scheduling.publishing import publish
from scheduling.rules import RULE_CHOICES
from scheduling.services import appointments as appointment_services
from scheduling.services import occurrences as occurrence_services
from scheduling.services import sync
from scheduling.services.recurring import save_business_rule, save_report_schedule


def _local(instant: Any, tz: str) -> str:
    if instant is None:
        return "-"
    local = instant.astimezone(zoneinfo.ZoneInfo(tz))
    return format_html(
        '<span title="UTC: {}">{}</span>', instant.isoformat(), local.strftime("%Y-%m-%d %H:%M %Z")
    )


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
        return _local(obj.start_time, obj.user_timezone)

    @admin.display(description="Scheduled events", ordering="event_count")
    def scheduled_events(self, obj: Appointment) -> str:
        colour = "green" if obj.event_count else "red"
        url = reverse("admin:scheduling_scheduledevent_changelist") + f"?entity_id={obj.pk}"
        return format_html(
            '<a href="{}" style="color: {};">{} events</a>', url, colour, obj.event_count
        )

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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Events and their history --------------------------------------------------


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(AuditedAdmin):
    list_display = [
        "id",
        "event_type",
        "entity_id",
        "service_id",
        "status",
        "next_run_local",
        "beat_row",
    ]
    list_filter = ["event_type", "status", "service_id"]
    search_fields = ["=entity_id", "=id"]
    raw_id_fields = ["periodic_task"]
    readonly_fields = ["id", "fired_count", "next_run_at", "created_at", "updated_at"]
    show_full_result_count = False
    audit_add = AuditAction.SCHEDULE
    audit_change = AuditAction.CHANGE
    audit_delete = AuditAction.DELETE

    @admin.display(description="Next run (execution zone)", ordering="next_run_at")
    def next_run_local(self, obj: ScheduledEvent) -> str:
        return _local(obj.next_run_at, obj.execution_timezone)

    @admin.display(description="Periodic task")
    def beat_row(self, obj: ScheduledEvent) -> str:
        if obj.periodic_task_id is None:
            return "-"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[obj.periodic_task_id])
        return format_html('<a href="{}">{}</a>', url, obj.periodic_task_id)


@admin.register(Occurrence)
class OccurrenceAdmin(admin.ModelAdmin):
    list_display = ["scheduled_for", "event", "status", "attempts", "sent_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["=event__id", "=event__entity_id", "=task_id"]
    list_select_related = ["event"]
    raw_id_fields = ["event"]
    actions = ["retry"]
    show_full_result_count = False

    @admin.action(description="Retry the selected failed occurrences", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[Occurrence]) -> None:
        ids = [
            str(pk)
            for pk in queryset.filter(status=OccurrenceStatus.FAILED).values_list("pk", flat=True)
        ]
        dispatches = occurrence_services.retry_failed(ids, now=timezone.now())
        publish(dispatches, app=celery_app)
        skipped = queryset.count() - len(dispatches)
        level = messages.WARNING if skipped else messages.SUCCESS
        self.message_user(
            request, f"Sent {len(dispatches)} occurrences again; {skipped} were not failed.", level
        )


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

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- django-celery-beat's editors, made to scale -------------------------------------


admin.site.unregister(PeriodicTask)
admin.site.unregister(ClockedSchedule)
admin.site.unregister(CrontabSchedule)


@admin.register(PeriodicTask)
class ScalablePeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """The stock editor, without what reads every row (select lists, date hierarchy)."""

    date_hierarchy = None
    raw_id_fields = ["interval", "crontab", "solar", "clocked"]
    list_filter = ["enabled", "one_off"]
    show_full_result_count = False

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        # The stock view describes every crontab for its script; only this task's is shown.
        extra_context = extra_context or {}
        task = (
            PeriodicTask.objects.filter(pk=object_id).select_related("crontab").first()
            if object_id
            else None
        )
        if task is not None and task.crontab is not None:
            extra_context["readable_crontabs"] = {task.crontab.pk: task.crontab.human_readable}
        else:
            extra_context["readable_crontabs"] = {}
        return admin.ModelAdmin.changeform_view(self, request, object_id, form_url, extra_context)

    # The stock actions, for users who may change tasks only (they are
    # offered to anyone who may view them otherwise). Enabling and disabling
    # use update(), which sends no signal: the events follow here, as they do
    # an edit in the form (scheduling.signals), and that is audited.

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        with transaction.atomic():
            super().enable_tasks(request, queryset)
            _follow(queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        with transaction.atomic():
            super().disable_tasks(request, queryset)
            _follow(queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        with transaction.atomic():
            super().toggle_tasks(request, queryset)
            _follow(queryset)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        # The stock action publishes all or, if one task is unknown, none.
        self.celery_app.loader.import_default_modules()
        names = set(queryset.values_list("task", flat=True))
        if not all(name in self.celery_app.tasks for name in names):
            super().run_tasks(request, queryset)  # says which one is unknown
            return
        # Recorded first, in a transaction a failed publish rolls back.
        with transaction.atomic():
            events = ScheduledEvent.objects.filter(periodic_task__in=queryset)
            audit.record_many(
                AuditAction.RUN,
                ((pk, {"via": "admin"}) for pk in events.values_list("pk", flat=True)),
            )
            super().run_tasks(request, queryset)


def _follow(tasks: QuerySet[PeriodicTask]) -> None:
    sync.follow_beat_rows(
        ScheduledEvent.objects.filter(periodic_task__in=tasks), now=timezone.now()
    )


class _TasksUsingSchedule:
    """Instead of the stock inline (every task on one page): a count and a link."""

    task_field: str  # PeriodicTask's foreign key to this kind of schedule

    @admin.display(description="Periodic tasks using this schedule")
    def tasks(self, obj: Any) -> str:
        if obj.pk is None:
            return "-"
        field = self.task_field
        count = PeriodicTask.objects.filter(**{field: obj}).count()
        url = (
            reverse("admin:django_celery_beat_periodictask_changelist")
            + f"?{field}__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">{} tasks</a>', url, count)


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(_TasksUsingSchedule, admin.ModelAdmin):
    task_field = "clocked"
    fields = ["clocked_time", "tasks"]
    readonly_fields = ["tasks"]
    list_display = ["clocked_time"]
    show_full_result_count = False


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(_TasksUsingSchedule, admin.ModelAdmin):
    task_field = "crontab"
    list_display = ["__str__", "human_readable"]
    fields = [
        "human_readable",
        "minute",
        "hour",
        "day_of_month",
        "month_of_year",
        "day_of_week",
        "timezone",
        "tasks",
    ]
    readonly_fields = ["human_readable", "tasks"]
    show_full_result_count = False


from scheduling import access_admin  # noqa: E402, F401 - registers the API key and audit admins
