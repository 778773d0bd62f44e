"""The admin of events and their run history.

Every list is meant to stay usable at a million rows: foreign keys are
raw-id fields, related rows are fetched with the list (no per-row queries)
and full result counts are not computed.
"""

from __future__ import annotations

from celery import current_app
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from scheduling.admin.audited import AuditedAdmin
from scheduling.admin.display import local_time
from scheduling.models import AuditAction, Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.publishing import publish
from scheduling.services import occurrences as occurrence_services

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
        return local_time(obj.next_run_at, obj.execution_timezone)

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
        publish(dispatches, app=current_app)
        skipped = queryset.count() - len(dispatches)
        level = messages.WARNING if skipped else messages.SUCCESS
        self.message_user(
            request, f"Sent {len(dispatches)} occurrences again; {skipped} were not failed.", level
        )
