"""Keep the recurring events of business rules, report schedules and clean-up in step."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone

from scheduling.models import BusinessRule, EventStatus, EventType, ReportSchedule, ScheduledEvent
from scheduling.services import events


def _today_at(at: time, tz: str, now: datetime) -> datetime:
    """Today's ``at`` in ``tz``: a start that may be past (the rule then fires next slot)."""
    zone = zoneinfo.ZoneInfo(tz)
    return datetime.combine(now.astimezone(zone).date(), at).replace(tzinfo=zone)


def _replace(
    current: ScheduledEvent | None, request: dict[str, Any] | None
) -> ScheduledEvent | None:
    """Keep ``current`` if it already is what ``request`` asks; otherwise replace it.

    ``request`` holds schedule_event's arguments plus ``_at``, the local time
    of day, which is compared with the crontab the admin may have edited.
    """
    if current is not None and current.status == EventStatus.SCHEDULED:
        if request is not None and _matches(current, request):
            return current
        events.cancel_event(current.id)
    if request is None:
        return None
    return events.schedule_event(**{k: v for k, v in request.items() if k != "_at"})


def _matches(event: ScheduledEvent, request: dict[str, Any]) -> bool:
    recurrence = request["recurrence"]
    return (
        event.payload == request["payload"]
        and event.execution_timezone == request["resource_timezone"]
        and event.recurrence is not None
        and event.recurrence["frequency"] == recurrence["frequency"]
        and event.recurrence["by_month_day"] == recurrence.get("by_month_day", [])
        and event.periodic_task is not None
        and event.periodic_task.crontab is not None
        and (event.periodic_task.crontab.hour, event.periodic_task.crontab.minute)
        == (str(request["_at"].hour), str(request["_at"].minute))
    )


@transaction.atomic
def save_business_rule(rule: BusinessRule) -> BusinessRule:
    """Save the rule and make its daily event match it (none when disabled)."""
    rule.full_clean()
    rule.save()
    request = _business_rule_request(rule) if rule.enabled else None
    rule.event = _replace(rule.event, request)
    rule.save(update_fields=["event"])
    return rule


def _business_rule_request(rule: BusinessRule) -> dict[str, Any]:
    return {
        "event_type": EventType.BUSINESS_RULE,
        "entity_id": rule.entity_id,
        "scheduled_time": _today_at(rule.execution_time, rule.timezone, timezone.now()),
        "resource_timezone": rule.timezone,
        "user_timezone": rule.timezone,
        "payload": {"rule_id": rule.rule_key, "business_rule_id": rule.pk, "context": rule.context},
        "recurrence": {"frequency": "DAILY", "interval": 1, "timezone": rule.timezone},
        "_at": rule.execution_time,
    }


@transaction.atomic
def save_report_schedule(schedule: ReportSchedule) -> ReportSchedule:
    """Save the schedule and make its monthly event match it (none when disabled)."""
    schedule.full_clean()
    schedule.save()
    request = _report_request(schedule) if schedule.enabled else None
    schedule.event = _replace(schedule.event, request)
    schedule.save(update_fields=["event"])
    return schedule


def _report_request(schedule: ReportSchedule) -> dict[str, Any]:
    return {
        "event_type": EventType.REPORT_GENERATION,
        "entity_id": schedule.entity_id,
        "scheduled_time": _today_at(schedule.time_of_day, schedule.timezone, timezone.now()),
        "resource_timezone": schedule.timezone,
        "user_timezone": schedule.timezone,
        "payload": {
            "report_id": schedule.name,
            "report_schedule_id": schedule.pk,
            "report_type": "monthly",
        },
        "recurrence": {
            "frequency": "MONTHLY",
            "by_month_day": [schedule.by_month_day],
            "timezone": schedule.timezone,
        },
        "_at": schedule.time_of_day,
    }


@transaction.atomic
def ensure_data_cleanup_event(*, days_to_keep: int, at: time, tz: str = "UTC") -> ScheduledEvent:
    """The daily DATA_CLEANUP system event, created once; a new setting replaces it."""
    current = ScheduledEvent.objects.filter(
        entity_id="system", event_type=EventType.DATA_CLEANUP, status=EventStatus.SCHEDULED
    ).first()
    request = {
        "event_type": EventType.DATA_CLEANUP,
        "entity_id": "system",
        "scheduled_time": _today_at(at, tz, timezone.now()),
        "resource_timezone": tz,
        "user_timezone": tz,
        "payload": {"days_to_keep": days_to_keep},
        "recurrence": {"frequency": "DAILY", "interval": 1, "timezone": tz},
        "_at": at,
    }
    event = _replace(current, request)
    assert event is not None
    return event
