"""The API's OpenAPI 3.1 document, served at ``/api/openapi.json``.

Written by hand next to the views it describes; tests hold the two together
(every route is described with the methods its view answers) and the fuzz
test checks every answer against it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from scheduling import registry
from scheduling.models import (
    CatchUp,
    EventStatus,
    OccurrenceStatus,
    Overlap,
    ScheduledEvent,
    Trigger,
)
from scheduling.recurrence import FREQUENCIES, MAX_COUNT, MAX_EXCLUDE, WEEKDAY_PATTERN, WEEKDAYS
from scheduling.registry import MAX_JITTER
from scheduling.timecheck import known_timezones
from scheduling.validation import EARLIEST, LATEST, MAX_PAYLOAD_DEPTH

_ISO_INSTANT = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with a UTC offset, e.g. 2026-12-02T09:00:00-05:00. "
    "The offset is in whole minutes, from -14:00 to +14:00.",
}
_ZONE = {"$ref": "#/components/schemas/Timezone"}


def _max_length(field: str) -> int:
    # From the model, so the document and the validation cannot drift apart.
    return int(getattr(ScheduledEvent._meta.get_field(field), "max_length", None) or 0)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if headers:
        response["headers"] = headers
    return response


_COMMON_ERRORS = {
    "401": _error("X-Service-Name or X-API-Key missing, or the key unknown or revoked."),
    "403": _error("The key is not for the named service, or the request names another."),
    "405": _error("The path does not answer this method."),
    "429": _error(
        "The key's rate budget is spent; nothing was written.",
        {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    ),
    "503": _error(
        "The database or the rate limits' Redis is down or silent; retry. A write may or may "
        "not have been made: repeat it with the same Idempotency-Key.",
        {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    ),
}


def _json_body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _event_request(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "entity_id", "scheduled_time", "timezone_context"],
        "properties": {
            "type": {"enum": registry.names()},
            # Each optional field may also be null, meaning absent.
            "service_id": _nullable(
                {"type": "string", "description": "Optional; if given, must be the key's service."}
            ),
            "entity_id": {
                "type": "string",
                "pattern": r"\S",
                "maxLength": _max_length("entity_id"),
                "description": "No NUL characters or unpaired surrogates (\\ud800).",
            },
            "scheduled_time": {
                **_ISO_INSTANT,
                "description": f"{_ISO_INSTANT['description']} From "
                f"{EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC).",
            },
            "timezone_context": _ref("TimezoneContext"),
            "payload": _nullable(
                {
                    "type": "object",
                    "description": f"Up to {settings.SCHEDULING_MAX_PAYLOAD_BYTES} bytes as "
                    f"compact JSON, nested at most {MAX_PAYLOAD_DEPTH} levels deep "
                    "(this object is one); encrypted at rest. Absent or null: {}.",
                }
            ),
            "recurrence": {"oneOf": [_ref("Recurrence"), {"type": "null"}]},
            **extra,
        },
    }


def _schemas() -> dict[str, Any]:
    return {
        "Timezone": {
            "description": "An IANA timezone name known to tzdata, e.g. America/New_York "
            "(not the pseudo-zones localtime, posixrules and Factory).",
            "enum": sorted(known_timezones()),
        },
        "TimezoneContext": {
            "type": "object",
            "additionalProperties": False,
            "required": ["resource_timezone", "user_timezone"],
            "properties": {
                "resource_timezone": _ZONE,
                "user_timezone": _ZONE,
                # The zone recurrence is evaluated in; absent or null: resource_timezone.
                "execution_timezone": _nullable(_ZONE),
            },
        },
        "Recurrence": {
            "type": "object",
            "description": "Fires at scheduled_time's wall-clock time in the rule's zone "
            "(HOURLY: at its minute, every interval real hours). A rule left with nothing "
            "to fire (Mondays only from a Friday to the Sunday after, every firing before "
            "until already past, every date left excluded) is refused.",
            "additionalProperties": False,
            "required": ["frequency"],
            "properties": {
                "frequency": {"enum": list(FREQUENCIES)},
                # Each optional field may also be null, meaning absent.
                "interval": _nullable({"type": "integer", "minimum": 1, "maximum": 1000}),
                "by_month_day": _nullable(
                    {
                        "type": "array",
                        "items": {
                            "type": "integer",
                            "minimum": -31,
                            "maximum": 31,
                            "not": {"const": 0},
                        },
                        "description": "MONTHLY or YEARLY only; negative counts from the "
                        "month's end (-1 is the last day). A month without the day is skipped.",
                    }
                ),
                "by_weekday": _nullable(
                    {
                        "type": "array",
                        "items": {"type": "string", "pattern": f"^{WEEKDAY_PATTERN.pattern}$"},
                        "description": f"Weekday codes ({', '.join(WEEKDAYS)}). MONTHLY and "
                        "YEARLY also take a position in the month before the code, 1 to 5 or "
                        "-1 (the last) to -5: 2MO is the second Monday, -1FR the last Friday. "
                        "With by_month_day, a day must match both (13 and FR: Friday the 13th).",
                        "examples": [["MO", "TH"], ["-1FR"]],
                    }
                ),
                "by_month": _nullable(
                    {
                        "type": "array",
                        "items": {"type": "integer", "minimum": 1, "maximum": 12},
                        "description": "Fires only in these months (1 is January). YEARLY "
                        "without it: the month of scheduled_time.",
                    }
                ),
                "exclude": _nullable(
                    {
                        "type": "array",
                        "maxItems": MAX_EXCLUDE,
                        "items": {"type": "string", "format": "date"},
                        "description": "Local dates (YYYY-MM-DD) in the rule's zone on which "
                        "it does not fire; they do not count toward count.",
                        "examples": [["2026-12-25", "2027-01-01"]],
                    }
                ),
                "count": _nullable({"type": "integer", "minimum": 1, "maximum": MAX_COUNT}),
                "until": _nullable(_ISO_INSTANT),
                "timezone": _nullable(_ZONE),
            },
        },
        "EventRequest": _event_request({}),
        "BulkEventRequest": _event_request(
            {
                "idempotency_key": _nullable(
                    {
                        "type": "string",
                        "pattern": r"\S",
                        "maxLength": _max_length("idempotency_key"),
                        "description": "No NUL characters or unpaired surrogates (\\ud800).",
                    }
                )
            }
        ),
        "BulkRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["events"],
            "properties": {
                "events": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.SCHEDULING_API_BULK_MAX_EVENTS,
                    "items": _ref("BulkEventRequest"),
                }
            },
        },
        "Scheduled": {
            "type": "object",
            "required": ["event_id", "status", "scheduled_time"],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "status": {"enum": list(EventStatus.values)},
                "scheduled_time": _ISO_INSTANT,
            },
        },
        "Cancelled": {
            "type": "object",
            "required": ["event_id", "status"],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "status": {"const": EventStatus.CANCELLED},
                "firing_in_progress": {
                    "type": "boolean",
                    "description": (
                        "A firing of the event had already started when the cancel took"
                        " effect: it runs to its end. Every firing not yet started is skipped."
                    ),
                },
            },
        },
        "Controls": {
            "type": "object",
            "description": "The event's own controls; null: its type's (docs/api.md, Controls).",
            "additionalProperties": False,
            "properties": {
                "misfire_grace_seconds": _nullable(
                    {"type": "integer", "minimum": 0, "maximum": 366 * 86400}
                ),
                "catch_up": _nullable({"enum": list(CatchUp.values)}),
                "jitter_seconds": _nullable(
                    {"type": "integer", "minimum": 0, "maximum": int(MAX_JITTER.total_seconds())}
                ),
                "overlap": _nullable({"enum": list(Overlap.values)}),
            },
        },
        "EventPatch": {
            "type": "object",
            "description": "A field left out keeps its value; recurrence null makes the "
            "event a one-off.",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "scheduled_time": _ISO_INSTANT,
                "payload": {"type": "object"},
                "recurrence": _nullable(_ref("Recurrence")),
                "controls": _ref("Controls"),
            },
        },
        "EventDetail": {
            "type": "object",
            "required": [
                "event_id",
                "type",
                "status",
                "scheduled_time",
                "next_run_at",
                "controls",
                "occurrences",
            ],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "type": {"type": "string"},
                "service_id": {"type": "string"},
                "entity_id": {"type": "string"},
                "status": {"enum": list(EventStatus.values)},
                "scheduled_time": _ISO_INSTANT,
                "next_run_at": {
                    **_nullable(_ISO_INSTANT),
                    "description": "When beat fires it next (its jitter included); null: never.",
                },
                "timezone_context": _ref("TimezoneContext"),
                "payload": {"type": "object"},
                "recurrence": {"type": ["object", "null"]},
                "fired_count": {"type": "integer", "minimum": 0},
                "controls": _ref("Controls"),
                "occurrences": {
                    "type": "array",
                    "description": "The latest firings, latest first.",
                    "items": {
                        "type": "object",
                        "required": ["occurrence_id", "scheduled_for", "status", "trigger"],
                        "properties": {
                            "occurrence_id": {"type": "string", "format": "uuid"},
                            "scheduled_for": _ISO_INSTANT,
                            "status": {"enum": list(OccurrenceStatus.values)},
                            "trigger": {"enum": list(Trigger.values)},
                            "attempts": {"type": "integer", "minimum": 0},
                            "started_at": _nullable(_ISO_INSTANT),
                            "finished_at": _nullable(_ISO_INSTANT),
                        },
                    },
                },
            },
        },
        "RunStarted": {
            "type": "object",
            "required": ["event_id", "occurrence_id"],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "occurrence_id": {"type": "string", "format": "uuid"},
            },
        },
        "UpcomingEvent": {
            "type": "object",
            "required": ["id", "type", "service_id", "entity_id", "scheduled_time", "status"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "type": {"enum": registry.names()},
                "service_id": {"type": "string"},
                "entity_id": {"type": "string"},
                "scheduled_time": {
                    **_ISO_INSTANT,
                    "description": "This firing, in the requested timezone.",
                },
                "timezone_context": _ref("TimezoneContext"),
                "payload": {"type": "object"},
                "recurrence": {"type": ["object", "null"]},
                "status": {"enum": list(EventStatus.values)},
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"enum": ["ok", "unavailable"]},
                "checks": {
                    "type": "object",
                    "required": ["database", "broker", "beat"],
                    "additionalProperties": {
                        "type": "object",
                        "required": ["ok"],
                        "properties": {"ok": {"type": "boolean"}, "error": {"type": "string"}},
                    },
                },
            },
        },
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "A short machine-readable code."},
                "message": {"type": "string"},
                "errors": {
                    "type": "object",
                    "description": "Messages per field path (e.g. timezone_context.user_timezone).",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    }


def _paths() -> dict[str, Any]:
    too_large = _error("The body, the payload or the number of events is over its limit.")
    return {
        "/api/events/schedule": {
            "post": {
                "operationId": "scheduleEvent",
                "summary": "Schedule one event",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        # Empty means no key, as if the header were not sent.
                        "schema": {
                            "type": "string",
                            "pattern": r"^$|\S",
                            "maxLength": _max_length("idempotency_key"),
                        },
                        "description": "Repeating a request with the same key returns the "
                        "first event; the same key with another event is a 409.",
                    },
                ],
                "requestBody": _json_body("EventRequest"),
                "responses": {
                    "201": _ok("Scheduled.", _ref("Scheduled")),
                    "200": _ok("Already scheduled: the existing event.", _ref("Scheduled")),
                    "400": _error("Bad input; nothing was written."),
                    "409": _error("The idempotency key was used for another event."),
                    "413": too_large,
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/events/bulk": {
            "post": {
                "operationId": "scheduleEvents",
                "summary": "Schedule many events in one transaction (all or none)",
                "description": "Each event costs one unit of the key's rate budget.",
                "requestBody": _json_body("BulkRequest"),
                "responses": {
                    "201": _ok(
                        "All scheduled, in request order.",
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": _ref("Scheduled")}},
                        },
                    ),
                    "400": _error(
                        "Bad input (errors keyed events.<index>.<field>); nothing written."
                    ),
                    "409": _error("An idempotency key was used for another event."),
                    "413": too_large,
                    **_COMMON_ERRORS,
                },
            }
        },
        "/api/events/upcoming": {
            "get": {
                "operationId": "getUpcomingEvents",
                "summary": "The caller's firings in a window, soonest first",
                "parameters": [
                    _query("service_id", {"type": "string"}, "If given, the key's service."),
                    _query("entity_id", {"type": "string"}, "Only this entity's events."),
                    _query("start_time", _ISO_INSTANT, "Window start; default now."),
                    _query("end_time", _ISO_INSTANT, "Window end; default open."),
                    _query("timezone", _ZONE, "Zone of the returned times; default UTC."),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, ""),
                ],
                "responses": {
                    "200": _ok("Firings.", {"type": "array", "items": _ref("UpcomingEvent")}),
                    "400": _error("Bad parameter."),
                    **_COMMON_ERRORS,
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "The database, the broker and beat's last tick (no credentials)",
                "security": [],
                "responses": {
                    "200": _ok("All up.", _ref("Health")),
                    "503": _ok("One is down; checks say which.", _ref("Health")),
                },
            }
        },
        "/api/events/{event_id}": {
            "get": {
                "operationId": "getEvent",
                "summary": "The event and its latest firings",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": _ok("The event.", _ref("EventDetail")),
                    "404": _error("No such event, or not the caller's."),
                    **_COMMON_ERRORS,
                },
            },
            "patch": {
                "operationId": "updateEvent",
                "summary": "Reschedule in place: time, payload, recurrence, controls",
                "description": "The event keeps its id and history; beat fires it at its new "
                "time, never at the old. All or nothing.",
                "parameters": [_EVENT_ID],
                "requestBody": _json_body("EventPatch"),
                "responses": {
                    "200": _ok("Changed.", _ref("EventDetail")),
                    "400": _error("Bad input; nothing was changed."),
                    "404": _error("No such event, or not the caller's."),
                    "409": _error("The event is not scheduled (paused, cancelled or ended)."),
                    "413": too_large,
                    **_COMMON_ERRORS,
                },
            },
            "delete": {
                "operationId": "cancelEvent",
                "summary": "Cancel a scheduled event (again: still 200)",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": _ok("Cancelled.", _ref("Cancelled")),
                    "404": _error("No such event, or not the caller's."),
                    "409": _error("The event already completed, failed or was missed."),
                    **_COMMON_ERRORS,
                },
            },
        },
        "/api/events/{event_id}/pause": _control(
            "pauseEvent",
            "Pause: the event fires nothing until resumed",
            _ok("Paused.", _ref("EventDetail")),
            "The event is not scheduled.",
        ),
        "/api/events/{event_id}/resume": _control(
            "resumeEvent",
            "Resume a paused event; missed slots catch up by its policy",
            _ok("Resumed.", _ref("EventDetail")),
            "The event is not paused, or another event took its time.",
        ),
        "/api/events/{event_id}/run": _control(
            "runEvent",
            "Fire the event once more, now; its schedule is unchanged",
            _ok("Sent to a worker.", _ref("RunStarted")),
            "The event is not scheduled.",
            status="202",
        ),
    }


_EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _control(
    operation: str, summary: str, ok: dict[str, Any], conflict: str, *, status: str = "200"
) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation,
            "summary": summary,
            "parameters": [_EVENT_ID],
            "responses": {
                status: ok,
                "404": _error("No such event, or not the caller's."),
                "409": _error(conflict),
                **_COMMON_ERRORS,
            },
        }
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Event scheduler API",
            "version": "1.0.0",
            "description": "Schedule, list and cancel events fired by the project's "
            "Celery beat. Authenticate every call with X-Service-Name and X-API-Key.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            # Both headers are credentials: a key and the service it is bound to.
            "securitySchemes": {
                "serviceName": {"type": "apiKey", "in": "header", "name": "X-Service-Name"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"serviceName": [], "apiKey": []}],
    }


@require_GET
def document_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(document())
