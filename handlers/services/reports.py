"""Monthly reports: appointment counts per resource for the previous month."""

from __future__ import annotations

import csv
import io
import zoneinfo
from datetime import datetime

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Count, Q

from handlers.models import Appointment, AppointmentStatus, Report, ReportSchedule
from scheduling.models import Occurrence

COLUMNS = ["resource", "booked", "cancelled", "no_show", "completed", "total"]


def previous_month(instant: datetime, tz: str) -> tuple[datetime, datetime]:
    """The month before ``instant``'s month in ``tz``, as [start, end) instants."""
    zone = zoneinfo.ZoneInfo(tz)
    local = instant.astimezone(zone)
    end = datetime(local.year, local.month, 1, tzinfo=zone)
    start = datetime(end.year - (end.month == 1), (end.month - 2) % 12 + 1, 1, tzinfo=zone)
    return start, end


@transaction.atomic
def generate_monthly_report(schedule: ReportSchedule, *, occurrence: Occurrence) -> Report:
    """Write the CSV for the month before the firing; one report per firing."""
    existing = Report.objects.filter(occurrence=occurrence).first()
    if existing is not None:
        return existing
    start, end = previous_month(occurrence.scheduled_for, schedule.timezone)
    rows = _counts_per_resource(start, end)
    report = Report(
        schedule=schedule,
        occurrence=occurrence,
        period_start=start,
        period_end=end,
        row_count=len(rows),
    )
    name = f"{schedule.name}-{start:%Y-%m}-{occurrence.pk}.csv"
    report.file.save(name, ContentFile(_as_csv(rows).encode()), save=False)
    report.save()
    return report


def _counts_per_resource(start: datetime, end: datetime) -> list[dict[str, object]]:
    counts = {
        status.value: Count("pk", filter=Q(status=status.value)) for status in AppointmentStatus
    }
    rows = (
        Appointment.objects.filter(start_time__gte=start, start_time__lt=end)
        .values("resource")
        .annotate(**counts, total=Count("pk"))
        .order_by("resource")
    )
    return [dict(row) for row in rows]


def _as_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
