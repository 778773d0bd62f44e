"""REPORT_GENERATION: the previous month's appointments per resource, as a CSV file."""

from __future__ import annotations

from typing import Any

from handlers.errors import SkipOccurrence
from handlers.payload import require
from scheduling.models import Occurrence, ReportSchedule, ScheduledEvent
from scheduling.services.reports import generate_monthly_report


def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
    fields = require(event.payload, ["report_schedule_id"])
    schedule = ReportSchedule.objects.filter(pk=fields["report_schedule_id"]).first()
    if schedule is None:
        raise SkipOccurrence("the payload's report_schedule_id names no report schedule")
    report = generate_monthly_report(schedule, occurrence=occurrence)
    return {"report_id": report.pk, "file": report.file.name, "rows": report.row_count}
