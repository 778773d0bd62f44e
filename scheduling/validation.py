"""Turn the API's arguments into a validated ``EventSpec``, or say what is wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from scheduling import registry
from scheduling.exceptions import EventValidationError
from scheduling.models import ScheduledEvent
from scheduling.recurrence import (
    RecurrenceError,
    Rule,
    is_aware,
    is_valid_timezone,
    parse_recurrence,
)

_ENTITY_MAX = ScheduledEvent._meta.get_field("entity_id").max_length
_SERVICE_MAX = ScheduledEvent._meta.get_field("service_id").max_length
_KEY_MAX = ScheduledEvent._meta.get_field("idempotency_key").max_length


# The instants an event may be scheduled at: wide enough for any real plan,
# narrow enough that every date computed from them (UTC, local wall clocks,
# recurrence) stays far inside what datetime can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventSpec:
    """Everything needed to write one event, already checked."""

    event_type: str
    service_id: str
    entity_id: str
    scheduled_time: datetime  # aware, UTC
    resource_timezone: str
    user_timezone: str
    execution_timezone: str
    payload: dict[str, Any]
    rule: Rule | None
    idempotency_key: str | None

    @property
    def recurrence(self) -> dict[str, Any] | None:
        return self.rule.as_dict() if self.rule else None


def build_event_spec(
    *,
    event_type: object,
    entity_id: object,
    scheduled_time: object,
    resource_timezone: object,
    user_timezone: object,
    payload: object,
    recurrence: object = None,
    service_id: object = "backend",
    idempotency_key: object = None,
    execution_timezone: object = None,
) -> EventSpec:
    """Validate every argument; raise EventValidationError naming each bad one."""
    errors: dict[str, str] = {}
    if not isinstance(event_type, str) or registry.get(event_type) is None:
        errors["event_type"] = (
            f"unknown event type {event_type!r}; registered: {', '.join(registry.names())}"
        )
    _check_text(errors, "entity_id", entity_id, _ENTITY_MAX)
    _check_text(errors, "service_id", service_id, _SERVICE_MAX)
    if idempotency_key is not None:
        _check_text(errors, "idempotency_key", idempotency_key, _KEY_MAX)
    when = _check_instant(errors, scheduled_time)
    if execution_timezone is None:
        execution_timezone = resource_timezone
    for field, value in (
        ("resource_timezone", resource_timezone),
        ("user_timezone", user_timezone),
        ("execution_timezone", execution_timezone),
    ):
        if not is_valid_timezone(value):
            errors[field] = f"unknown IANA timezone: {value!r}"
    _check_payload(errors, payload)
    rule = _check_recurrence(errors, recurrence, when, execution_timezone)
    if errors:
        raise EventValidationError(errors)
    assert when is not None
    return EventSpec(
        event_type=str(event_type),
        service_id=str(service_id),
        entity_id=str(entity_id),
        scheduled_time=when,
        resource_timezone=str(resource_timezone),
        user_timezone=str(user_timezone),
        execution_timezone=str(execution_timezone),
        payload=dict(payload),  # type: ignore[call-overload]
        rule=rule,
        idempotency_key=str(idempotency_key) if idempotency_key is not None else None,
    )


def _check_text(errors: dict[str, str], field: str, value: object, max_length: int | None) -> None:
    if not isinstance(value, str) or not value.strip():
        errors[field] = "must be a non-empty string"
    elif max_length is not None and len(value) > max_length:
        errors[field] = f"must be at most {max_length} characters"
    elif "\x00" in value:  # PostgreSQL text cannot hold it; SQLite would, silently
        errors[field] = "must not contain NUL characters"


def _check_instant(errors: dict[str, str], value: object) -> datetime | None:
    if not isinstance(value, datetime):
        errors["scheduled_time"] = "must be a datetime"
        return None
    if not is_aware(value):
        errors["scheduled_time"] = (
            "naive datetime: give a timezone-aware datetime (e.g. with tzinfo=ZoneInfo(...))"
        )
        return None
    try:
        instant = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        instant = None
    if instant is None or not EARLIEST <= instant < LATEST:
        errors["scheduled_time"] = (
            f"must be from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)"
        )
        return None
    return instant


def _check_payload(errors: dict[str, str], payload: object) -> None:
    if not isinstance(payload, dict):
        errors["payload"] = "must be a JSON object (a dict)"
        return
    try:
        encoded = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        errors["payload"] = f"must be JSON-serialisable: {exc}"
        return
    too_big = _size_error(encoded)
    if too_big:
        errors["payload"] = too_big


def payload_size_error(payload: object) -> str | None:
    """Why ``payload`` is over the size limit, or None (also for a non-JSON payload)."""
    try:
        encoded = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        return None
    return _size_error(encoded)


def _size_error(encoded: bytes) -> str | None:
    limit = settings.SCHEDULING_MAX_PAYLOAD_BYTES
    if len(encoded) > limit:
        return f"is {len(encoded)} bytes as JSON; the limit is {limit} bytes"
    return None


def _check_recurrence(
    errors: dict[str, str], recurrence: object, when: datetime | None, default_tz: object
) -> Rule | None:
    if recurrence is None or when is None:
        return None
    tz = default_tz if is_valid_timezone(default_tz) else "UTC"
    try:
        return parse_recurrence(recurrence, start=when, default_timezone=str(tz))
    except RecurrenceError as exc:
        errors.update(exc.errors)
        return None
