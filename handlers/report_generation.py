"""REPORT_GENERATION: the previous month's appointments per resource, as a CSV file.

Two payloads name the report: ``report_schedule_id`` (a ``ReportSchedule``
made in the admin, whose event this is) and the original guide's
``{"report_id": ..., "report_type": "monthly"}``, where ``report_id`` is the
caller's name for the report: the schedule of that name, made on first use
from the event itself (its zone), so the guide's ``schedule_monthly_report``
works unchanged.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from handlers.models import ReportSchedule
from handlers.services.reports import generate_monthly_report
from scheduling import PermanentError, event_type
from scheduling.models import Occurrence, ScheduledEvent

# The only kind of report there is; the guide names it.
REPORT_TYPES = {"monthly"}


# A report is worth having however late: no grace.
@event_type("REPORT_GENERATION", misfire_grace=None, overlap="skip")
def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    schedule = _schedule(event, occurrence)
    report = generate_monthly_report(schedule, occurrence=occurrence)
    return {"report_id": report.pk, "file": report.file.name, "rows": report.row_count}


def _schedule(event: ScheduledEvent, occurrence: Occurrence) -> ReportSchedule:
    payload = event.payload
    if "report_schedule_id" in payload:
        key = str(payload["report_schedule_id"])
        found = ReportSchedule.objects.filter(pk=int(key)).first() if key.isdecimal() else None
        if found is None:
            raise PermanentError("the payload's report_schedule_id names no report schedule")
        return found
    if "report_id" not in payload:
        raise PermanentError("payload lacks report_schedule_id or report_id")
    if payload.get("report_type", "monthly") not in REPORT_TYPES:
        raise PermanentError("the payload's report_type must be 'monthly'")
    name = str(payload["report_id"])[:100]
    local = occurrence.scheduled_for.astimezone(zoneinfo.ZoneInfo(event.execution_timezone))
    schedule, _ = ReportSchedule.objects.get_or_create(
        name=name,
        defaults={
            "by_month_day": local.day,
            "time_of_day": local.time().replace(tzinfo=None),
            "timezone": event.execution_timezone,
            # Its event is the caller's, not one this schedule made.
            "enabled": False,
        },
    )
    return schedule
