"""Keep the recurring events of business rules, report schedules and clean-up in step."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime, time
from typing import Any

from django.db import transaction
from django.utils import timezone

import scheduling
from handlers.models import BusinessRule, ReportSchedule
from scheduling.models import EventStatus, ScheduledEvent


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
        scheduling.cancel_event(current.id)
    if request is None:
        return None
    return scheduling.schedule_event(**{k: v for k, v in request.items() if k != "_at"})


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


def _recurring_request(
    event_type: str, entity_id: str, *, at: time, tz: str, payload: dict[str, Any], **rule: Any
) -> dict[str, Any]:
    """schedule_event's arguments for a rule firing at local time ``at`` in ``tz``."""
    return {
        "event_type": event_type,
        "entity_id": entity_id,
        "scheduled_time": _today_at(at, tz, timezone.now()),
        "resource_timezone": tz,
        "user_timezone": tz,
        "payload": payload,
        "recurrence": {**rule, "timezone": tz},
        "_at": at,
    }


def _save_with_event(row: Any, request_for: Callable[[Any], dict[str, Any]]) -> Any:
    """Save a rule-like row and make its event match it (none when disabled)."""
    row.full_clean()
    row.save()
    row.event = _replace(row.event, request_for(row) if row.enabled else None)
    row.save(update_fields=["event"])
    return row


@transaction.atomic
def save_business_rule(rule: BusinessRule) -> BusinessRule:
    """Save the rule; its daily event follows (replaced on change, cancelled when disabled)."""
    return _save_with_event(
        rule,
        lambda r: _recurring_request(
            "BUSINESS_RULE",
            r.entity_id,
            at=r.execution_time,
            tz=r.timezone,
            payload={"rule_id": r.rule_key, "business_rule_id": r.pk, "context": r.context},
            frequency="DAILY",
            interval=1,
        ),
    )


@transaction.atomic
def save_report_schedule(schedule: ReportSchedule) -> ReportSchedule:
    """Save the schedule; its monthly event follows (replaced on change, off when disabled)."""
    return _save_with_event(
        schedule,
        lambda r: _recurring_request(
            "REPORT_GENERATION",
            r.entity_id,
            at=r.time_of_day,
            tz=r.timezone,
            payload={"report_id": r.name, "report_schedule_id": r.pk, "report_type": "monthly"},
            frequency="MONTHLY",
            by_month_day=[r.by_month_day],
        ),
    )


@transaction.atomic
def ensure_data_cleanup_event(*, days_to_keep: int, at: time, tz: str = "UTC") -> ScheduledEvent:
    """The daily DATA_CLEANUP system event, created once; a new setting replaces it."""
    current = ScheduledEvent.objects.filter(
        entity_id="system", event_type="DATA_CLEANUP", status=EventStatus.SCHEDULED
    ).first()
    request = _recurring_request(
        "DATA_CLEANUP",
        "system",
        at=at,
        tz=tz,
        payload={"days_to_keep": days_to_keep},
        frequency="DAILY",
        interval=1,
    )
    event = _replace(current, request)
    assert event is not None
    return event
