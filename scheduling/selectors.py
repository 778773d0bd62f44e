"""Every read that returns events."""

from __future__ import annotations

import contextlib
import functools
import heapq
import itertools
import zoneinfo
from collections.abc import Generator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, QuerySet
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_datetime

from scheduling.calendar import cron_pattern, event_rule
from scheduling.index_order import read_in_index_order
from scheduling.models import BeatHeartbeat, EventStatus, FiredBeatRows, ScheduledEvent
from scheduling.policies import jitter_offset
from scheduling.recurrence import iter_fires
from scheduling.validation import build_upcoming_query, event_uuid


def get_upcoming_events(
    *,
    service_id: str = "backend",
    entity_id: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    timezone: str = "UTC",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Scheduled firings in ``[start_time, end_time]``, soonest first.

    ``start_time`` defaults to now; without ``end_time`` the window is open.
    A recurring event appears once per firing in the window, at most
    ``SCHEDULING_UPCOMING_MAX_PER_EVENT`` times; at most ``limit`` items are
    returned. ``scheduled_time`` is ISO 8601 in ``timezone`` with its offset.
    Raise EventValidationError naming each bad argument (a naive datetime,
    an unknown zone, a limit below 1, ...).
    """
    query = build_upcoming_query(
        service_id=service_id,
        entity_id=entity_id,
        start_time=start_time,
        end_time=end_time,
        timezone=timezone,
        limit=limit,
    )
    window_start = query.start_time or django_timezone.now()
    events = _scheduled_events(query.service_id, query.entity_id)
    firings = itertools.chain(
        _one_off_firings(events, window_start, query.end_time, query.limit),
        _recurring_firings(events, window_start, query.end_time, query.limit),
    )
    zone = zoneinfo.ZoneInfo(query.timezone)
    ordered = sorted(firings, key=lambda firing: firing[1])[: query.limit]
    return [_as_dict(event, instant, zone) for event, instant in ordered]


def _scheduled_events(service_id: str, entity_id: str | None) -> QuerySet[ScheduledEvent]:
    events = ScheduledEvent.objects.filter(
        service_id=service_id, status=EventStatus.SCHEDULED, next_run_at__isnull=False
    )
    if entity_id is not None:
        events = events.filter(entity_id=entity_id)
    return events


def _one_off_firings(
    events: QuerySet[ScheduledEvent], start: datetime, end: datetime | None, limit: int
) -> Iterator[tuple[ScheduledEvent, datetime]]:
    one_offs = events.filter(recurrence__isnull=True, next_run_at__gte=start)
    if end is not None:
        one_offs = one_offs.filter(next_run_at__lte=end)
    for event in one_offs.order_by("next_run_at")[:limit]:
        assert event.next_run_at is not None
        yield event, event.next_run_at


def _recurring_firings(
    events: QuerySet[ScheduledEvent], start: datetime, end: datetime | None, limit: int
) -> Iterator[tuple[ScheduledEvent, datetime]]:
    """The recurring events' first ``limit`` firings in the window, soonest first.

    An event fires at its ``next_run_at`` and later, never sooner: the
    events are read in the order of their next run and their firings merged
    as they come (one heap entry per event, holding its next firing), so an
    event is read only if its next run comes before the firings already
    found, and expanded only as far as they reach. Expanding every rule of
    a service in full took 5-9 s for a week ahead at 50,000 rules, and
    minutes with no end to the window.
    """
    recurring = events.filter(recurrence__isnull=False, periodic_task__crontab__isnull=False)
    if end is not None:
        recurring = recurring.filter(next_run_at__lte=end)
    with contextlib.closing(
        _by_next_run(recurring.select_related("periodic_task__crontab"))
    ) as waiting:
        yield from _merged(waiting, start, end, limit)


def _merged(
    waiting: Iterator[ScheduledEvent], start: datetime, end: datetime | None, limit: int
) -> Iterator[tuple[ScheduledEvent, datetime]]:
    """The first ``limit`` firings of ``waiting`` (soonest next run first), in order."""
    upcoming = next(waiting, None)
    # (next firing, tie-breaker, event, its later firings)
    heap: list[tuple[datetime, int, ScheduledEvent, Iterator[datetime]]] = []
    arrival = itertools.count()
    for _ in range(limit):
        while upcoming is not None and (not heap or _next_run(upcoming) <= heap[0][0]):
            firings = _expand(upcoming, start, end)
            first = next(firings, None)
            if first is not None:
                heapq.heappush(heap, (first, next(arrival), upcoming, firings))
            upcoming = next(waiting, None)
        if not heap:
            return
        instant, key, event, firings = heap[0]
        yield event, instant
        later = next(firings, None)
        if later is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (later, key, event, firings))


def _next_run(event: ScheduledEvent) -> datetime:
    assert event.next_run_at is not None
    return event.next_run_at


_PAGE = 200


def _by_next_run(events: QuerySet[ScheduledEvent]) -> Generator[ScheduledEvent, None, None]:
    """``events`` soonest next run first: one statement, read ``_PAGE`` rows at a time.

    One statement, so one snapshot: read in pages, a rule that beat
    advanced between two pages was read twice, and one moved back was
    missed. Its rows come through a server-side cursor as they are needed
    (all of them at once where ``DISABLE_SERVER_SIDE_CURSORS`` is set). It
    is read down ``event_due_idx`` (``scheduling.index_order``): planned
    freely, it joined every rule's beat row and sorted them, 0.4 s at 50,000
    rules.
    """
    with read_in_index_order():
        try:
            yield from events.order_by("next_run_at", "pk").iterator(chunk_size=_PAGE)
        except GeneratorExit:
            # The caller has read enough (``yield from`` closed the cursor):
            # the transaction ends as it would have at the last row, not as
            # if the read had failed.
            return


def _expand(event: ScheduledEvent, start: datetime, end: datetime | None) -> Iterator[datetime]:
    """The event's firings in the window, soonest first, computed as beat computes them."""
    assert event.next_run_at is not None
    assert event.periodic_task is not None
    crontab = event.periodic_task.crontab
    rule = event_rule(event)
    # Slots are the calendar's; each fires at its slot plus the event's jitter.
    offset = jitter_offset(event)
    first = event.next_run_at - offset
    if start > event.next_run_at and (rule is None or rule.count is None):
        # Without a count, firings before the window change nothing: jump.
        first = start - offset - timedelta(microseconds=1)
        fires: Iterator[datetime] = iter(())
    else:
        fires = iter([first])
    fires = itertools.chain(
        fires,
        iter_fires(
            cron_pattern(crontab),
            str(crontab.timezone),
            after=first,
            rule=rule,
            fired=event.fired_count + 1,
        ),
    )
    fires = (slot + offset for slot in fires)
    in_window = (t for t in fires if t >= start)
    bounded = itertools.takewhile(lambda t: end is None or t <= end, in_window)
    return itertools.islice(bounded, settings.SCHEDULING_UPCOMING_MAX_PER_EVENT)


def _as_dict(event: ScheduledEvent, instant: datetime, zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "type": event.event_type,
        "service_id": event.service_id,
        "entity_id": event.entity_id,
        "scheduled_time": instant.astimezone(zone).isoformat(),
        "timezone_context": event.timezone_context,
        "payload": event.payload,
        "recurrence": event.recurrence,
        "status": event.status,
    }


def service_event(event_id: str, *, service_id: str) -> ScheduledEvent | None:
    """The event with this id if it belongs to ``service_id``, else None (also for a bad id)."""
    pk = event_uuid(event_id)
    if pk is None:
        return None
    return ScheduledEvent.objects.filter(id=pk, service_id=service_id).first()


def fired_beat_rows_left() -> bool:
    """Whether bursts left fired one-offs' beat rows to delete (``FiredBeatRows``)."""
    return FiredBeatRows.objects.exists()


def next_due_at() -> datetime | None:
    """The earliest ``next_run_at`` of any scheduled event (beat's sleep bound).

    Beat asks this on every tick while it polls: the query's SQL is built
    once, not by the ORM each time (four fifths of the call).
    """
    sql, params = _next_due_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    [value] = row
    # SQLite keeps the instant in UTC without an offset, as Django writes it there.
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    assert parsed is not None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@functools.cache
def _next_due_sql() -> tuple[str, tuple[Any, ...]]:
    query = (
        ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)[:1]
    )
    return query.query.sql_with_params()


def scheduled_events_for_entity(
    entity_id: str, *, service_id: str = "backend"
) -> QuerySet[ScheduledEvent]:
    """The entity's events that are still scheduled."""
    return ScheduledEvent.objects.filter(
        service_id=service_id, entity_id=entity_id, status=EventStatus.SCHEDULED
    )


# --- For the metrics endpoint (scheduling.metrics.collector) ----------------------


def event_counts_by_status() -> dict[str, int]:
    """How many events have each status, every status present (0 if none).

    A full count: ``status`` has no index of its own, so this reads the
    whole table. The metrics collector caches it (docs/operations.md).
    """
    counts = dict.fromkeys(EventStatus.values, 0)
    rows = ScheduledEvent.objects.order_by().values_list("status").annotate(n=Count("pk"))
    counts.update({status: n for status, n in rows})
    return counts


def scheduled_event_count() -> int:
    """How many events are scheduled.

    Read from the partial unique index on scheduled events (the natural
    key's), so its cost follows the scheduled events, not the history.
    """
    return ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED).count()


def due_backlog(*, now: datetime, limit: int) -> int:
    """Scheduled events due at ``now`` and not yet claimed, counted up to ``limit``.

    A range of ``event_due_idx``; the limit bounds the read when a backlog
    is huge (the count then says ``limit``).
    """
    due = ScheduledEvent.objects.filter(
        status=EventStatus.SCHEDULED, next_run_at__isnull=False, next_run_at__lte=now
    ).order_by()
    return due[:limit].count()


def leader_last_tick() -> datetime | None:
    """The latest recorded tick of a beat holding the beat lock (a table of a few rows)."""
    return BeatHeartbeat.objects.filter(is_leader=True).aggregate(last=Max("last_tick_at"))["last"]
