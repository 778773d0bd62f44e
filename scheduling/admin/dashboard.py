"""The operations dashboard: beat, backlog, lag, outcomes and what is coming, on one admin page.

At ``/admin/scheduling/dashboard/`` of the default admin site (the engine's
models are registered there too), linked from the admin's index page. Staff
with the view permission on scheduled events may open it. The reads are in
``scheduling.dashboard``, the chart in ``scheduling.charts``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone
from django.utils.safestring import mark_safe

from scheduling import charts, dashboard
from scheduling.admin.display import local_time
from scheduling.models import OccurrenceStatus

PERMISSION = "scheduling.view_scheduledevent"
FAILURES = 10


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    now = timezone.now()
    zone = settings.TIME_ZONE
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "now": local_time(now, zone),
        "beats": [_beat_row(beat, zone) for beat in dashboard.beat_instances(now=now)],
        "backlog": _backlog(dashboard.due_backlog(now=now), now, zone),
        "lags": [_lag_row(lag) for lag in dashboard.firing_lag(now=now)],
        "outcomes": _outcome_rows(dashboard.outcomes(now=now)),
        "timeline": _timeline(dashboard.upcoming_timeline(now=now)),
        "failures": [_failure_row(f, zone) for f in dashboard.latest_failures(limit=FAILURES)],
    }
    return TemplateResponse(request, "admin/scheduling/dashboard.html", context)


def _beat_row(beat: dashboard.BeatInstance, zone: str) -> dict[str, Any]:
    return {
        "instance": beat.instance,
        "role": "leader" if beat.is_leader else "standby",
        "age": duration(beat.age_seconds),
        "state": beat.state,
        "last_tick": local_time(beat.last_tick_at, zone),
        "started": local_time(beat.started_at, zone),
    }


def _backlog(backlog: dashboard.Backlog, now: datetime, zone: str) -> dict[str, Any]:
    due = f"{backlog.due:,}+" if backlog.capped else f"{backlog.due:,}"
    age = backlog.oldest_age_seconds
    return {
        "due": due,
        "oldest_age": "-" if age is None else duration(age),
        "oldest_due_at": local_time(backlog.oldest_due_at, zone),
        "url": _changelist(
            "scheduledevent", status__exact="scheduled", next_run_at__lte=now.isoformat()
        ),
    }


def _lag_row(lag: dashboard.Lag) -> dict[str, Any]:
    window = "last hour" if lag.window == dashboard.HOUR else "last 24 h"
    return {
        "window": window,
        "firings": f"{lag.firings:,}",
        "p50": seconds(lag.p50),
        "p99": seconds(lag.p99),
        "sampled": lag.sampled,
    }


def _outcome_rows(outcomes: dashboard.Outcomes) -> dict[str, Any]:
    rows = [
        {
            "status": status,
            "label": OccurrenceStatus(status).label,
            "count": f"{count:,}",
            "url": _changelist(
                "occurrence",
                status__exact=status,
                finished_at__gt=outcomes.since.isoformat(),
                finished_at__lte=outcomes.until.isoformat(),
            ),
        }
        for status, count in outcomes.counts.items()
    ]
    return {"rows": rows, "total": f"{outcomes.total:,}"}


def _timeline(timeline: dashboard.Timeline) -> dict[str, Any]:
    svg = charts.stacked_bars(
        labels=[hour.strftime("%H:00") for hour in timeline.hours],
        series=timeline.counts,
        title=f"Events due by hour (UTC), next 24 h: {timeline.total:,}",
    )
    # Every text in it is escaped by charts.stacked_bars.
    return {"svg": mark_safe(svg), "total": f"{timeline.total:,}"}  # noqa: S308


def _failure_row(failure: dashboard.Failure, zone: str) -> dict[str, Any]:
    return {
        "url": reverse("admin:scheduling_occurrence_change", args=[failure.occurrence_id]),
        "event_url": reverse("admin:scheduling_scheduledevent_change", args=[failure.event_id]),
        "event": failure.entity_id,
        "type": failure.event_type,
        "when": local_time(failure.finished_at, zone),
        "attempts": failure.attempts,
        "summary": failure.summary,
    }


def _changelist(model: str, **query: str) -> str:
    return f"{reverse(f'admin:scheduling_{model}_changelist')}?{urlencode(query)}"


def duration(total_seconds: float) -> str:
    """``4 s``, ``2 min 5 s``, ``3 h 12 min``, ``2 d 4 h``: two units at most."""
    whole = int(total_seconds)
    if whole < 60:
        return f"{total_seconds:.0f} s" if total_seconds >= 1 else f"{total_seconds:.1f} s"
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "min", 60),
        ("min", 60, "s", 1),
    ):
        if whole >= size:
            rest = (whole % size) // smaller_size
            return f"{whole // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    raise AssertionError("unreachable")


def seconds(value: float | None) -> str:
    """A lag: ``-`` when there is none, milliseconds below a second."""
    if value is None:
        return "-"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 60 else duration(value)


# --- Wiring: the URL on the default site, the link on its index page ---------------


def _with_dashboard(
    get_urls: Callable[[], list[URLPattern | URLResolver]],
) -> Callable[[], list[URLPattern | URLResolver]]:
    def urls() -> list[URLPattern | URLResolver]:
        # Before the site's own: its catch-all would answer this path first.
        view = admin.site.admin_view(dashboard_view)
        return [path("scheduling/dashboard/", view, name="scheduling_dashboard"), *get_urls()]

    return urls


admin.site.get_urls = _with_dashboard(admin.site.get_urls)  # type: ignore[method-assign]
# The index adds the link above the app list; a project that set its own
# index template keeps it (and can link to admin:scheduling_dashboard).
if admin.site.index_template is None:
    admin.site.index_template = "admin/scheduling/index.html"
