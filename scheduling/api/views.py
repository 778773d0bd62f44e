"""The API's endpoints: parse, authorise, call a service or selector, answer JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import reverse

from scheduling.api.auth import api_endpoint, charge, require_own_service
from scheduling.api.errors import ApiError, bad_request, not_found
from scheduling.api.parsing import (
    BULK_ITEM_FIELDS,
    EVENT_FIELDS,
    event_arguments,
    json_object,
    patch_arguments,
    query_count,
    query_instant,
    request_field_names,
)
from scheduling.exceptions import EventValidationError, IdempotencyConflict
from scheduling.models import ApiKey, EventStatus, ScheduledEvent
from scheduling.selectors import get_upcoming_events, service_event
from scheduling.services.controls import pause_event, resume_event, set_event_controls
from scheduling.services.events import (
    cancel_event,
    run_event_now,
    schedule_events,
    schedule_or_get_event,
    update_event,
)

UPCOMING_LIMIT_MAX = 1000
# The latest firings GET /api/events/{id} lists.
DETAIL_OCCURRENCES = 20
UPCOMING_PARAMS = {"service_id", "entity_id", "start_time", "end_time", "timezone", "limit"}


@api_endpoint("POST")
def schedule(request: HttpRequest, key: ApiKey) -> JsonResponse:
    """Schedule one event: 201 with its id, or 200 with the id it already has."""
    body = json_object(request)
    require_own_service(key, body, "service_id")
    arguments = event_arguments(body, service_id=key.service_id, allowed=EVENT_FIELDS)
    arguments["idempotency_key"] = request.headers.get("Idempotency-Key") or None
    try:
        event, new = schedule_or_get_event(**arguments)
    except EventValidationError as exc:
        raise _validation_error(exc) from None
    return JsonResponse(_scheduled(event), status=201 if new else 200)


@api_endpoint("POST")
def schedule_bulk(request: HttpRequest, key: ApiKey) -> JsonResponse:
    """Schedule many events in one transaction: all of them, or none."""
    body = json_object(request, field_depth=3)  # events.<index>.<field>
    unknown = {name: ["unknown field"] for name in sorted(set(body) - {"events"})}
    if unknown:
        raise bad_request(unknown)
    items = body.get("events")
    limit = settings.SCHEDULING_API_BULK_MAX_EVENTS
    if not isinstance(items, list) or not items:
        raise bad_request({"events": ["must be a non-empty list of events"]})
    if len(items) > limit:
        raise ApiError(413, "too_large", f"At most {limit} events per request.")
    arguments = [_bulk_item(key, index, item) for index, item in enumerate(items)]
    charge(key, len(items) - 1)  # the request itself paid for one
    try:
        events = schedule_events(arguments)
    except EventValidationError as exc:
        raise _validation_error(exc, prefix="events.") from None
    return JsonResponse({"events": [_scheduled(event) for event in events]}, status=201)


def _bulk_item(key: ApiKey, index: int, item: object) -> dict[str, Any]:
    prefix = f"events.{index}."
    if not isinstance(item, dict):
        raise bad_request({f"events.{index}": ["must be an object"]})
    require_own_service(key, item, f"{prefix}service_id")
    return event_arguments(item, service_id=key.service_id, allowed=BULK_ITEM_FIELDS, prefix=prefix)


@api_endpoint("GET", "PATCH", "DELETE")
def event_detail(request: HttpRequest, key: ApiKey, event_id: str) -> JsonResponse:
    """GET: the event and its latest firings. PATCH: change it. DELETE: cancel it."""
    event = service_event(event_id, service_id=key.service_id)
    if event is None:
        raise not_found()
    if request.method == "GET":
        return JsonResponse(_detail(event))
    if request.method == "PATCH":
        return JsonResponse(_detail(_patch(request, event)))
    return _cancel(event)


def _cancel(event: ScheduledEvent) -> JsonResponse:
    """Cancel a scheduled event of the caller's: 200; again: 200; 409 once it has ended."""
    cancellation = cancel_event(event.id)
    if not cancellation:
        event.refresh_from_db(fields=["status"])
        if event.status != EventStatus.CANCELLED:
            raise ApiError(
                409, "not_scheduled", f"The event is {event.status}; it cannot be cancelled."
            )
    return JsonResponse(
        {
            "event_id": str(event.id),
            "status": EventStatus.CANCELLED,
            "firing_in_progress": cancellation.firing_in_progress,
        }
    )


@transaction.atomic
def _patch(request: HttpRequest, event: ScheduledEvent) -> ScheduledEvent:
    """Apply a PATCH body: time, payload and recurrence, then controls; all or nothing."""
    changes = patch_arguments(json_object(request))
    try:
        if changes.schedule:
            update_event(event.id, **changes.schedule, via="api")
        if changes.controls:
            try:
                set_event_controls(event.id, **changes.controls)
            except EventValidationError as exc:
                raise _validation_error(exc, prefix="controls.") from None
    except ScheduledEvent.DoesNotExist:
        raise _not_scheduled(event) from None
    except EventValidationError as exc:
        raise _validation_error(exc) from None
    return ScheduledEvent.objects.get(pk=event.pk)


@api_endpoint("POST")
def pause(request: HttpRequest, key: ApiKey, event_id: str) -> JsonResponse:
    """Pause a scheduled event of the caller's: 200 with the event; 409 if it is not scheduled."""
    event = _own_event(key, event_id)
    try:
        return JsonResponse(_detail(pause_event(event.id)))
    except ScheduledEvent.DoesNotExist:
        raise _not_scheduled(event) from None


@api_endpoint("POST")
def resume(request: HttpRequest, key: ApiKey, event_id: str) -> JsonResponse:
    """Resume a paused event of the caller's: 200 with the event; 409 if it is not paused."""
    event = _own_event(key, event_id)
    try:
        return JsonResponse(_detail(resume_event(event.id)))
    except ScheduledEvent.DoesNotExist:
        raise ApiError(409, "not_paused", f"The event is {event.status}, not paused.") from None
    except EventValidationError as exc:
        raise ApiError(409, "conflict", " ".join(exc.messages)) from None


@api_endpoint("POST")
def run_now(request: HttpRequest, key: ApiKey, event_id: str) -> JsonResponse:
    """Fire a scheduled event of the caller's once more, now: 202 with the occurrence id."""
    event = _own_event(key, event_id)
    try:
        occurrence_id = run_event_now(event.id)
    except ScheduledEvent.DoesNotExist:
        raise _not_scheduled(event) from None
    return JsonResponse({"event_id": str(event.id), "occurrence_id": occurrence_id}, status=202)


def _own_event(key: ApiKey, event_id: str) -> ScheduledEvent:
    event = service_event(event_id, service_id=key.service_id)
    if event is None:
        raise not_found()
    return event


def _not_scheduled(event: ScheduledEvent) -> ApiError:
    event.refresh_from_db(fields=["status"])
    return ApiError(409, "not_scheduled", f"The event is {event.status}, not scheduled.")


@api_endpoint("GET")
def upcoming(request: HttpRequest, key: ApiKey) -> JsonResponse:
    """The caller's firings in a window, as ``get_upcoming_events`` gives them."""
    params = request.GET
    require_own_service(key, params, "service_id")
    errors = {name: ["unknown parameter"] for name in sorted(set(params) - UPCOMING_PARAMS)}
    # Each once: which of two values counts would be a guess (Django reads the last).
    errors.update(
        {
            name: ["given more than once; give it once"]
            for name in sorted(set(params) & UPCOMING_PARAMS)
            if len(params.getlist(name)) > 1
        }
    )
    start = query_instant(params.get("start_time"), "start_time", errors)
    end = query_instant(params.get("end_time"), "end_time", errors)
    limit = query_count(
        params.get("limit"), "limit", errors, default=UPCOMING_LIMIT_MAX, maximum=UPCOMING_LIMIT_MAX
    )
    if errors:
        raise bad_request(errors)
    try:
        events = get_upcoming_events(
            service_id=key.service_id,
            entity_id=params.get("entity_id") or None,
            start_time=start,
            end_time=end,
            timezone=params.get("timezone", "UTC"),
            limit=limit,
        )
    except EventValidationError as exc:
        raise _validation_error(exc) from None
    return JsonResponse(events, safe=False)


def unknown_endpoint(request: HttpRequest) -> JsonResponse:
    """JSON 404 for a path under the API that names no endpoint."""
    return ApiError(
        404,
        "not_found",
        f"No endpoint {request.method} {request.path}; the endpoints are described at "
        f"{reverse('api:openapi')}.",
    ).response()


def _validation_error(exc: EventValidationError, prefix: str = "") -> ApiError:
    errors = request_field_names(exc.message_dict, prefix)
    if isinstance(exc, IdempotencyConflict):
        return ApiError(409, "conflict", "The idempotency key names another event.", errors)
    return bad_request(errors)


def _detail(event: ScheduledEvent) -> dict[str, Any]:
    """An event as GET /api/events/{id} shows it, with its latest firings."""
    latest = event.occurrences.order_by("-scheduled_for")[:DETAIL_OCCURRENCES]
    return {
        "event_id": str(event.id),
        "type": event.event_type,
        "service_id": event.service_id,
        "entity_id": event.entity_id,
        "status": event.status,
        "scheduled_time": event.scheduled_time.isoformat(),
        "next_run_at": _iso(event.next_run_at),
        "timezone_context": event.timezone_context,
        "payload": event.payload,
        "recurrence": event.recurrence,
        "fired_count": event.fired_count,
        "controls": {
            "misfire_grace_seconds": event.misfire_grace_seconds,
            "catch_up": event.catch_up or None,
            "jitter_seconds": event.jitter_seconds,
            "overlap": event.overlap or None,
        },
        "occurrences": [
            {
                "occurrence_id": str(o.id),
                "scheduled_for": o.scheduled_for.isoformat(),
                "status": o.status,
                "trigger": o.trigger,
                "attempts": o.attempts,
                "started_at": _iso(o.started_at),
                "finished_at": _iso(o.finished_at),
            }
            for o in latest
        ],
    }


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _scheduled(event: ScheduledEvent) -> dict[str, Any]:
    return {
        "event_id": str(event.id),
        "status": event.status,
        "scheduled_time": event.scheduled_time.isoformat(),
    }
