"""django-celery-beat's editors, made to scale to a beat table of a million events."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, PeriodicTask

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
