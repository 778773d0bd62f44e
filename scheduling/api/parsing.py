"""Turn request bodies and query strings into service arguments.

Only the shape is checked here (JSON types, known fields, ISO 8601 text);
what the values mean (zones, recurrence, sizes) is checked by the same
validation in-process callers get, and its messages are renamed to the
request's own field paths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from scheduling.api.errors import ApiError, bad_request
from scheduling.validation import payload_size_error

EVENT_FIELDS = {
    "type",
    "service_id",
    "entity_id",
    "scheduled_time",
    "timezone_context",
    "payload",
    "recurrence",
}
BULK_ITEM_FIELDS = EVENT_FIELDS | {"idempotency_key"}
ZONE_FIELDS = {"resource_timezone", "user_timezone", "execution_timezone"}

# The services' argument names, as the request spells them.
_REQUEST_NAMES = {
    "event_type": "type",
    "resource_timezone": "timezone_context.resource_timezone",
    "user_timezone": "timezone_context.user_timezone",
    "execution_timezone": "timezone_context.execution_timezone",
}


def json_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object; 413 if too big, 400 if not an object."""
    try:
        body = request.body
    except RequestDataTooBig:
        raise ApiError(413, "too_large", "The request body is too large.") from None
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request({"body": [f"not valid JSON: {exc}"]}) from None
    if not isinstance(data, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    return data


def event_arguments(
    item: Mapping[str, Any], *, service_id: str, allowed: set[str], prefix: str = ""
) -> dict[str, Any]:
    """``schedule_event`` keyword arguments for one event of a request.

    ``service_id`` is the caller's; the body may repeat it. Raise ApiError
    (400 naming each field, 413 for a payload over the size limit).
    """
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - allowed):
        errors[f"{prefix}{name}"] = ["unknown field"]
    for name in ("type", "entity_id", "scheduled_time", "timezone_context"):
        if name not in item:
            errors[f"{prefix}{name}"] = ["required"]
    zones = item.get("timezone_context", {})
    if not isinstance(zones, dict):
        errors[f"{prefix}timezone_context"] = ["must be an object"]
        zones = {}
    for name in sorted(set(zones) - ZONE_FIELDS):
        errors[f"{prefix}timezone_context.{name}"] = ["unknown field"]
    for name in ("resource_timezone", "user_timezone"):
        if "timezone_context" in item and name not in zones:
            errors[f"{prefix}timezone_context.{name}"] = ["required"]
    when = _instant(item.get("scheduled_time"), f"{prefix}scheduled_time", errors)
    payload = item.get("payload", {})
    if errors:
        raise bad_request(errors)
    too_big = payload_size_error(payload)
    if too_big:
        raise ApiError(413, "too_large", f"payload {too_big}", {f"{prefix}payload": [too_big]})
    return {
        "event_type": item["type"],
        "service_id": service_id,
        "entity_id": item["entity_id"],
        "scheduled_time": when,
        "resource_timezone": zones["resource_timezone"],
        "user_timezone": zones["user_timezone"],
        "execution_timezone": zones.get("execution_timezone"),
        "payload": payload,
        "recurrence": item.get("recurrence"),
        "idempotency_key": item.get("idempotency_key"),
    }


def _instant(value: object, field: str, errors: dict[str, list[str]]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = ["must be an ISO 8601 string with an offset"]
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        errors[field] = [f"not an ISO 8601 datetime: {value!r}"]
        return None


def query_instant(value: str | None, field: str, errors: dict[str, list[str]]) -> datetime | None:
    """An ISO 8601 query parameter; a '+' sent unescaped arrives as a space."""
    if value is None:
        return None
    return _instant(value.replace(" ", "+"), field, errors)


def request_field_names(errors: Mapping[str, list[str]], prefix: str = "") -> dict[str, list[str]]:
    """Validation messages keyed by the request's field paths, not the services' names."""
    renamed: dict[str, list[str]] = {}
    for key, messages in errors.items():
        head, _, rest = key.partition(".")
        if head.isdigit() and rest:  # a bulk item: "3.event_type" -> "events.3.type"
            name = f"{prefix}{head}.{_REQUEST_NAMES.get(rest, rest)}"
        else:
            name = f"{prefix}{_REQUEST_NAMES.get(key, key)}"
        renamed[name] = list(messages)
    return renamed
