"""What an event's admin page tells of it: its recent firings, its beat row, its audit trail.

Each is one bounded query (the latest rows only) and a link to the whole list.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from scheduling.admin.display import local_time
from scheduling.models import AuditEntry, Occurrence, OccurrenceStatus, ScheduledEvent

SHOWN = 20

STATUS_COLOURS = {
    "scheduled": "#1565c0",
    "paused": "#e65100",
    "claimed": "#6d4c41",
    "sent": "#6d4c41",
    "running": "#1565c0",
    "retrying": "#e65100",
    "succeeded": "#2e7d32",
    "completed": "#2e7d32",
    "skipped": "#757575",
    "cancelled": "#757575",
    "missed": "#c62828",
    "failed": "#c62828",
}


def status_badge(status: str) -> SafeString:
    colour = STATUS_COLOURS.get(status, "#333")
    return format_html(
        '<strong class="status status-{}" style="color: {};">{}</strong>', status, colour, status
    )


def occurrences_table(event: ScheduledEvent) -> SafeString:
    """The latest firings, latest first: when, status, attempts, and why if not succeeded."""
    rows = list(event.occurrences.order_by("-scheduled_for")[:SHOWN])
    all_url = reverse("admin:scheduling_occurrence_changelist") + f"?event__id__exact={event.pk}"
    if not rows:
        return mark_safe("No firing yet.")
    tz = event.execution_timezone
    body = format_html_join(
        "",
        "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                reverse("admin:scheduling_occurrence_change", args=[o.pk]),
                local_time(o.scheduled_for, tz),
                status_badge(o.status),
                o.attempts,
                local_time(o.finished_at, tz),
                reason(o),
            )
            for o in rows
        ),
    )
    return format_html(
        '<table class="event-occurrences"><thead><tr><th>Due</th><th>Status</th>'
        "<th>Attempts</th><th>Finished</th><th>Reason</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All firings of this event</a></p>',
        body,
        all_url,
    )


def reason(occurrence: Occurrence) -> str:
    """The first line of why a firing did not succeed (its error is decrypted to show it)."""
    if occurrence.status == OccurrenceStatus.SUCCEEDED or not occurrence.error:
        return ""
    text = str(occurrence.error).strip()
    # A traceback's last line names the exception; a reason is one line.
    lines = [line for line in text.splitlines() if line.strip()]
    line = lines[-1] if text.startswith("Traceback") else lines[0]
    return line[:200] + ("…" if len(line) > 200 else "")


def beat_row_summary(event: ScheduledEvent) -> SafeString | str:
    """Which beat row fires the event and on what calendar."""
    task = event.periodic_task
    if task is None:
        return "None (a one-off leaves the beat tables once fired)"
    url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    state = "enabled" if task.enabled else "disabled: the event does not fire"
    if task.clocked_id is not None:
        calendar = format_html(
            "clocked at {}", local_time(task.clocked.clocked_time, event.execution_timezone)
        )
    elif task.crontab_id is not None:
        calendar = format_html("crontab {}", task.crontab)  # its text names its zone
    else:
        calendar = mark_safe("no schedule")
    return format_html('<a href="{}">Periodic task {}</a> ({}), {}', url, task.pk, state, calendar)


def audit_trail(event: ScheduledEvent) -> SafeString:
    """Who did what to the event, latest first."""
    entries = list(AuditEntry.objects.filter(target=str(event.pk))[:SHOWN])
    all_url = reverse("admin:scheduling_auditentry_changelist") + f"?q={event.pk}"
    if not entries:
        return mark_safe("No entry.")
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{} {}</td><td><code>{}</code></td></tr>",
        (
            (local_time(e.at), e.action, e.actor_type, e.actor, details_text(e.details))
            for e in entries
        ),
    )
    return format_html(
        '<table class="event-audit"><thead><tr><th>When</th><th>What</th><th>Who</th>'
        "<th>Details</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All entries for this event</a></p>',
        body,
        all_url,
    )


def details_text(details: dict[str, object]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(details.items()))
