"""Turn request bodies and query strings into service arguments.

Only the shape is checked here (JSON types, known fields, ISO 8601 text);
what the values mean (zones, recurrence, sizes) is checked by the same
validation in-process callers get, and its messages are renamed to the
request's own field paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from scheduling.api.errors import ApiError, bad_request
from scheduling.timecheck import TimeValueError, parse_instant
from scheduling.validation import MAX_PAYLOAD_DEPTH, NESTED_TOO_DEEPLY, payload_size_error

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


def json_object(request: HttpRequest, *, field_depth: int = 1) -> dict[str, Any]:
    """The request body as a JSON object; 413 if too big, 400 if not an object.

    ``field_depth`` is how many levels of the body name a field: 1 for an
    event ("payload"), 3 in a bulk request ("events.3.payload"). A body
    nested too deeply to read is a 400 naming the field it happens in.
    """
    try:
        body = request.body
    except RequestDataTooBig:
        raise ApiError(413, "too_large", "The request body is too large.") from None
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request({"body": [f"not valid JSON: {exc}"]}) from None
    except RecursionError:
        # json recurses once per level. The fields are only ever checked after
        # parsing, so find the one the nesting is in from the text.
        field = _field_nested_too_deeply(body.decode("utf-8", "replace"), field_depth)
        raise bad_request({field: [NESTED_TOO_DEEPLY]}) from None
    if not isinstance(data, dict):
        raise bad_request({"body": ["must be a JSON object"]})
    return data


# The tokens that open, close or name a place in JSON text; strings whole, so
# that a bracket or a colon inside one is not taken for structure.
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"\s*:|"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _field_nested_too_deeply(text: str, field_depth: int) -> str:
    """The path, ``field_depth`` levels at most, of the field nesting too deeply in ``text``."""
    path: list[str | int] = []  # the key or index at each open level
    for token in _JSON_TOKENS.finditer(text):
        kind = token.group()
        if kind in ("{", "["):
            if len(path) > MAX_PAYLOAD_DEPTH + field_depth:
                break
            path.append(0 if kind == "[" else "")
        elif kind in ("}", "]"):
            path = path[:-1]
        elif kind == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
        elif kind.endswith(":") and path:
            path[-1] = _key(kind[:-1].rstrip())
    names = path[:field_depth]
    if not names or not isinstance(names[0], str):
        return "body"
    return ".".join(str(name) for name in names)


def _key(quoted: str) -> str:
    try:
        return str(json.loads(quoted, strict=False))
    except ValueError:
        return quoted.strip('"')


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
    item = _without_nulls(item)  # documented: a field sent as null is absent
    for name in ("type", "entity_id", "scheduled_time", "timezone_context"):
        if name not in item:
            errors[f"{prefix}{name}"] = ["required"]
    zones = item.get("timezone_context", {})
    if not isinstance(zones, dict):
        errors[f"{prefix}timezone_context"] = ["must be an object"]
        zones = {}
    zones = _without_nulls(zones)
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


def _without_nulls(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _instant(value: object, field: str, errors: dict[str, list[str]]) -> datetime | None:
    """ISO 8601 text as a datetime; what it must be (aware, in range) the validation says."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors[field] = ["must be an ISO 8601 string with an offset"]
        return None
    try:
        return parse_instant(value)
    except TimeValueError as exc:
        errors[field] = [str(exc)]
        return None


def query_instant(value: str | None, field: str, errors: dict[str, list[str]]) -> datetime | None:
    """An ISO 8601 query parameter; a '+' sent unescaped arrives as a space."""
    if value is None:
        return None
    return _instant(value.replace(" ", "+"), field, errors)


def query_count(
    value: str | None, field: str, errors: dict[str, list[str]], *, default: int, maximum: int
) -> int:
    """A whole-number query parameter from 1 to ``maximum``; ``default`` if absent or bad."""
    if value is None:
        return default
    # ASCII digits only: str.isdigit() is also true of "²", which int() refuses,
    # and int() reads "١٢" as 12.
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        errors[field] = [f"must be a whole number from 1 to {maximum}"]
        return default
    return int(value)


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


PATCH_FIELDS = {"scheduled_time", "payload", "recurrence", "controls"}
CONTROL_FIELDS = {"misfire_grace_seconds", "catch_up", "jitter_seconds", "overlap"}


@dataclass(frozen=True)
class PatchArguments:
    """A PATCH body split for its two services: ``update_event`` and ``set_event_controls``."""

    schedule: dict[str, Any]
    controls: dict[str, Any]


def patch_arguments(body: Mapping[str, Any]) -> PatchArguments:
    """What a PATCH body changes. A field absent keeps its value; ``recurrence: null``
    makes the event a one-off and a control set to null goes back to the type's.
    Raise ApiError (400 naming each bad field)."""
    errors: dict[str, list[str]] = {}
    for name in sorted(set(body) - PATCH_FIELDS):
        errors[name] = ["unknown field"]
    if not set(body) & PATCH_FIELDS and not errors:
        errors["body"] = [f"give one or more of {', '.join(sorted(PATCH_FIELDS))}"]
    schedule: dict[str, Any] = {}
    if "scheduled_time" in body:
        if body["scheduled_time"] is None:
            errors["scheduled_time"] = ["must be an ISO 8601 string with an offset, not null"]
        schedule["scheduled_time"] = _instant(body["scheduled_time"], "scheduled_time", errors)
    if "payload" in body:
        too_big = payload_size_error(body["payload"])
        if too_big:
            raise ApiError(413, "too_large", f"payload {too_big}")
        schedule["payload"] = body["payload"]
    if "recurrence" in body:
        schedule["recurrence"] = body["recurrence"]
    controls = body.get("controls", {})
    if not isinstance(controls, dict):
        errors["controls"] = ["must be an object"]
        controls = {}
    for name in sorted(set(controls) - CONTROL_FIELDS):
        errors[f"controls.{name}"] = ["unknown field"]
    if errors:
        raise bad_request(errors)
    return PatchArguments(schedule=schedule, controls=dict(controls))
