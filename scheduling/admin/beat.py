"""django-celery-beat's editors, made to scale to a beat table of a million events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

from scheduling import audit
from scheduling.models import AuditAction, ScheduledEvent
from scheduling.services import sync

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
