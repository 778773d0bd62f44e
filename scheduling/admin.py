"""Admin for events and their run history.

Beat rows stay in django-celery-beat's own admin (the periodic-task editor);
each event links to its row there.
"""

from __future__ import annotations

import zoneinfo

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from scheduling.models import Occurrence, ScheduledEvent


@admin.register(ScheduledEvent)
class ScheduledEventAdmin(admin.ModelAdmin):
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
    list_select_related = ["periodic_task"]
    raw_id_fields = ["periodic_task"]
    readonly_fields = ["id", "fired_count", "created_at", "updated_at"]
    show_full_result_count = False

    @admin.display(description="Next run (execution zone)", ordering="next_run_at")
    def next_run_local(self, obj: ScheduledEvent) -> str:
        if obj.next_run_at is None:
            return "-"
        local = obj.next_run_at.astimezone(zoneinfo.ZoneInfo(obj.execution_timezone))
        return format_html(
            '<span title="UTC: {}">{}</span>',
            obj.next_run_at.isoformat(),
            local.strftime("%Y-%m-%d %H:%M %Z"),
        )

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
    show_full_result_count = False
