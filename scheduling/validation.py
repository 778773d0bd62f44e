"""Turn the API's arguments into validated specs, or say what is wrong.

Every check of what a caller passes in is here; the checks of zones and
instants are in ``scheduling.timecheck``, which the pure recurrence code
shares. Messages name the argument and say what to send instead, in words
an HTTP caller can act on too (the HTTP API renames the fields only).
"""

from __future__ import annotations

import dataclasses
import json
import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from scheduling import registry
from scheduling.exceptions import EventValidationError
from scheduling.models import ScheduledEvent
from scheduling.recurrence import RecurrenceError, Rule, first_fire, parse_recurrence
from scheduling.timecheck import TimeValueError, is_valid_timezone, shown, to_utc, zone_error

_ENTITY_MAX = ScheduledEvent._meta.get_field("entity_id").max_length
_SERVICE_MAX = ScheduledEvent._meta.get_field("service_id").max_length
_KEY_MAX = ScheduledEvent._meta.get_field("idempotency_key").max_length


# The instants an event may be scheduled at: wide enough for any real plan,
# narrow enough that every date computed from them (UTC, local wall clocks,
# recurrence) stays far inside what datetime can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

# Deep enough for any real payload, shallow enough that everything that
# walks one later (json, the encryption, the admin, handlers) stays far from
# Python's recursion limit.
MAX_PAYLOAD_DEPTH = 32
NESTED_TOO_DEEPLY = f"is nested more than {MAX_PAYLOAD_DEPTH} levels deep"


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
    payload: dict[str, Any]  # as it will be stored and read back (a JSON round trip)
    rule: Rule | None
    idempotency_key: str | None
    # A recurring event's first firing after the instant it is written at, as
    # found when its rule was checked (None for a one-off).
    first_fire: datetime | None = None

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
    now: datetime,
    recurrence: object = None,
    service_id: object = "backend",
    idempotency_key: object = None,
    execution_timezone: object = None,
) -> EventSpec:
    """Validate every argument; raise EventValidationError naming each bad one.

    ``now`` is the instant the event is written at: a recurrence must have
    a firing left after it.
    """
    errors: dict[str, str] = {}
    if not isinstance(event_type, str) or registry.get(event_type) is None:
        errors["event_type"] = (
            f"unknown event type: {shown(event_type)}; registered: {', '.join(registry.names())}"
        )
    check_text(errors, "entity_id", entity_id, _ENTITY_MAX)
    check_text(errors, "service_id", service_id, _SERVICE_MAX)
    if idempotency_key is not None:
        check_text(errors, "idempotency_key", idempotency_key, _KEY_MAX)
    when = check_instant(errors, "scheduled_time", scheduled_time, EARLIEST, LATEST)
    check_zone(errors, "resource_timezone", resource_timezone)
    check_zone(errors, "user_timezone", user_timezone)
    if execution_timezone is None:
        execution_timezone = resource_timezone  # checked just above
    else:
        check_zone(errors, "execution_timezone", execution_timezone)
    stored_payload = _check_payload(errors, payload)
    rule, first = _check_recurrence(errors, recurrence, when, execution_timezone, now)
    if errors:
        raise EventValidationError(errors)
    assert when is not None
    assert stored_payload is not None
    return EventSpec(
        event_type=str(event_type),
        service_id=str(service_id),
        entity_id=str(entity_id),
        scheduled_time=when,
        resource_timezone=str(resource_timezone),
        user_timezone=str(user_timezone),
        execution_timezone=str(execution_timezone),
        payload=stored_payload,
        rule=rule,
        idempotency_key=str(idempotency_key) if idempotency_key is not None else None,
        first_fire=first,
    )


# --- One argument each ---------------------------------------------------------


def check_text(errors: dict[str, str], field: str, value: object, max_length: int | None) -> None:
    """An id: a non-empty string the database can store as it is."""
    if not isinstance(value, str) or not value.strip():
        errors[field] = "must be a non-empty string"
    elif max_length is not None and len(value) > max_length:
        errors[field] = f"must be at most {max_length} characters"
    elif "\x00" in value:  # PostgreSQL text cannot hold it; SQLite would, silently
        errors[field] = "must not contain NUL characters"
    elif not _is_unicode(value):
        # A lone surrogate ("\ud800" in JSON) has no UTF-8 form to store.
        errors[field] = "must be valid Unicode text: it has an unpaired surrogate such as \\ud800"


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_instant(
    errors: dict[str, str],
    field: str,
    value: object,
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> datetime | None:
    """``value`` as an aware UTC datetime, or None with ``errors[field]`` saying why not."""
    try:
        return to_utc(value, earliest=earliest, latest=latest)
    except TimeValueError as exc:
        errors[field] = str(exc)
        return None


def check_zone(errors: dict[str, str], field: str, value: object) -> None:
    wrong = zone_error(value)
    if wrong:
        errors[field] = wrong


def _check_payload(errors: dict[str, str], payload: object) -> dict[str, Any] | None:
    """The payload as it will be stored, or None with ``errors["payload"]`` saying why not."""
    if not isinstance(payload, dict):
        errors["payload"] = "must be a JSON object"
        return None
    try:
        encoded = _encode_payload(payload)
    except ValueError as exc:
        errors["payload"] = str(exc)
        return None
    too_big = _size_error(encoded)
    if too_big:
        errors["payload"] = too_big
        return None
    # What handlers will read: {1: (2,)} is stored, and read back, as {"1": [2]}.
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def payload_size_error(payload: object) -> str | None:
    """Why ``payload`` is over the size limit, or None (also for a payload bad otherwise)."""
    try:
        encoded = _encode_payload(payload)
    except ValueError:
        return None
    return _size_error(encoded)


def _encode_payload(payload: object) -> bytes:
    """Compact JSON, as stored; raise ValueError saying why it cannot be."""
    try:
        encoded = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        # json.dumps recurses once per level (RecursionError at about a
        # thousand) and refuses a cycle, which nests without end: both are
        # said as the depth limit. Otherwise a date, NaN, an int of 5,000 digits.
        if _nested_deeper_than(payload, MAX_PAYLOAD_DEPTH):
            raise ValueError(NESTED_TOO_DEEPLY) from None
        raise ValueError(f"must be JSON-serialisable: {exc}") from None
    # Each level opens a bracket: with no more brackets than the limit allows
    # levels, the payload cannot be too deep, and is not walked (a tenth of
    # an event's validation).
    if encoded.count(b"{") + encoded.count(b"[") > MAX_PAYLOAD_DEPTH and _nested_deeper_than(
        payload, MAX_PAYLOAD_DEPTH
    ):
        raise ValueError(NESTED_TOO_DEEPLY)
    return encoded


def _nested_deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in ``value`` (a cycle does)."""
    level = [value] if isinstance(value, dict | list | tuple) else []
    for _ in range(limit):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list | tuple)
        ]
        if not level:
            return False
    return True


def _size_error(encoded: bytes) -> str | None:
    limit = settings.SCHEDULING_MAX_PAYLOAD_BYTES
    if len(encoded) > limit:
        return f"is {len(encoded)} bytes as JSON; the limit is {limit} bytes"
    return None


def _check_recurrence(
    errors: dict[str, str],
    recurrence: object,
    when: datetime | None,
    default_tz: object,
    now: datetime,
) -> tuple[Rule | None, datetime | None]:
    """The rule and its first firing after ``now``; (None, None) with errors if it has none."""
    if recurrence is None or when is None:
        return None, None
    tz = default_tz if is_valid_timezone(default_tz) else "UTC"
    try:
        rule = parse_recurrence(recurrence, start=when, default_timezone=str(tz))
    except RecurrenceError as exc:
        errors.update(exc.errors)
        return None, None
    # As the event's first next_run_at is computed: a firing at ``now`` counts.
    after = now - timedelta(microseconds=1)
    try:
        first = first_fire(rule, after=after)
        never = {} if first is not None else _why_never(rule, after)
    except RecurrenceError:
        # Defensive: parse_recurrence refuses the calendars cron cannot
        # match; its message would name the crontab, which callers never see.
        never = {"recurrence": "never fires: no date matches its days and months"}
    if never:
        errors.update(never)
        return None, None
    return rule, first


def _why_never(rule: Rule, after: datetime) -> dict[str, str]:
    """Why a new event with this rule, which has no firing after ``after``, never fires."""
    # count cannot be why (nothing has fired yet): it is the exclusions, until,
    # or the calendar. Asked again without each only if there is one: a
    # calendar that matches nothing costs thousands of candidate dates to find out.
    if rule.exclude and first_fire(dataclasses.replace(rule, exclude=frozenset()), after=after):
        return {"recurrence.exclude": "leaves nothing to fire: every date left is excluded"}
    unlimited = None
    if rule.until is not None:
        unlimited = first_fire(dataclasses.replace(rule, until=None), after=after)
    if unlimited is None:
        return {"recurrence": "never fires: no date matches its days and interval"}
    local = unlimited.astimezone(zoneinfo.ZoneInfo(rule.timezone)).isoformat()
    return {"recurrence.until": f"leaves nothing to fire: the next firing, {local}, is after it"}


# --- Event ids and the upcoming-events query --------------------------------


def event_uuid(value: object) -> uuid.UUID | None:
    """The event id ``value`` spells (a UUID or its text), or None if it spells none."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def require_event_uuid(value: object) -> uuid.UUID:
    """``event_uuid(value)``; raise EventValidationError naming ``event_id`` if it is None."""
    event_id = event_uuid(value)
    if event_id is None:
        raise EventValidationError({"event_id": f"not an event id (a UUID): {shown(value)}"})
    return event_id


@dataclass(frozen=True)
class UpcomingQuery:
    """The arguments of ``get_upcoming_events``, checked."""

    service_id: str
    entity_id: str | None
    start_time: datetime | None  # aware, UTC
    end_time: datetime | None  # aware, UTC
    timezone: str
    limit: int


def build_upcoming_query(
    *,
    service_id: object,
    entity_id: object,
    start_time: object,
    end_time: object,
    timezone: object,
    limit: object,
) -> UpcomingQuery:
    """Validate the query; raise EventValidationError naming each bad argument."""
    errors: dict[str, str] = {}
    check_text(errors, "service_id", service_id, _SERVICE_MAX)
    if entity_id is not None:
        check_text(errors, "entity_id", entity_id, _ENTITY_MAX)
    start = None if start_time is None else check_instant(errors, "start_time", start_time)
    end = None if end_time is None else check_instant(errors, "end_time", end_time)
    if start is not None and end is not None and end < start:
        errors["end_time"] = "must not be before start_time"
    check_zone(errors, "timezone", timezone)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        errors["limit"] = "must be a whole number, at least 1"
    if errors:
        raise EventValidationError(errors)
    return UpcomingQuery(
        service_id=str(service_id),
        entity_id=None if entity_id is None else str(entity_id),
        start_time=start,
        end_time=end,
        timezone=str(timezone),
        limit=int(limit),  # type: ignore[call-overload]
    )
