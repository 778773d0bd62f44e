"""The reads behind the admin's operations dashboard: beats, backlog, lag, outcomes, what is coming.

Each read is one bounded query on an index, so the page costs the same at a
million events and ten million occurrences (benchmarks/dashboard_bench.py):

- beat instances: the heartbeat table (a handful of rows);
- the due backlog and the upcoming timeline: ``event_due_idx``, the backlog
  counted up to ``BACKLOG_COUNT_CAP``, the timeline over the next 24 h only;
- firing lag: ``occurrence_scheduled_for_idx``, the last day's firings only;
- outcomes: ``occurrence_finished_idx``, the last day's finished firings;
- the latest failures: ``occurrence_failed_idx``.

Every function takes ``now``: the page reads the clock once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Q,
    TextField,
)
from django.db.models.functions import Cast, Coalesce, TruncHour

from scheduling import encryption
from scheduling.models import (
    FINAL_OCCURRENCE_STATUSES,
    BeatHeartbeat,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# Past this the backlog shows "100,000+": counting a million due rows (beat
# down for a day) would cost more than the figure is worth.
BACKLOG_COUNT_CAP = 100_000
# SQLite has no percentile aggregate: the lags of at most this many of the
# last day's firings (the latest) are sorted in Python.
LAG_SAMPLE_CAP = 50_000
ERROR_SUMMARY_CHARS = 160


# --- Beat ---------------------------------------------------------------------------


class BeatState:
    FRESH = "fresh"  # ticked within two heartbeats
    LATE = "late"  # missed heartbeats, not yet what /health calls stale
    STALE = "stale"  # older than SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS


@dataclass(frozen=True)
class BeatInstance:
    instance: str
    is_leader: bool
    started_at: datetime
    last_tick_at: datetime
    age_seconds: float
    state: str


def beat_state(age_seconds: float) -> str:
    """Fresh within two heartbeat intervals, stale past the health check's max age."""
    stale_after = settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS
    fresh_until = min(2 * settings.SCHEDULING_BEAT_HEARTBEAT_SECONDS, stale_after)
    if age_seconds <= fresh_until:
        return BeatState.FRESH
    if age_seconds <= stale_after:
        return BeatState.LATE
    return BeatState.STALE


def beat_instances(*, now: datetime) -> list[BeatInstance]:
    """Every beat that ticked in the last day (older heartbeats are deleted), leaders first."""
    rows = BeatHeartbeat.objects.order_by("-is_leader", "-last_tick_at")
    instances = []
    for row in rows:
        # Rounded as /health rounds, so that the two never disagree.
        age = round(max(0.0, (now - row.last_tick_at).total_seconds()), 1)
        instances.append(
            BeatInstance(
                instance=row.instance,
                is_leader=row.is_leader,
                started_at=row.started_at,
                last_tick_at=row.last_tick_at,
                age_seconds=age,
                state=beat_state(age),
            )
        )
    return instances


# --- Due backlog ----------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    due: int
    # True when there are more than ``due`` (= BACKLOG_COUNT_CAP).
    capped: bool
    oldest_due_at: datetime | None
    oldest_age_seconds: float | None


def due_backlog(*, now: datetime) -> Backlog:
    """Scheduled events whose ``next_run_at`` is at or before ``now``, and the oldest of them."""
    due = ScheduledEvent.objects.filter(
        status=EventStatus.SCHEDULED, next_run_at__isnull=False, next_run_at__lte=now
    )
    # A sliced count is a COUNT over a LIMIT subquery: bounded however many are due.
    # Unordered: the model's default ordering would sort every due row first.
    count = due.order_by()[: BACKLOG_COUNT_CAP + 1].count()
    oldest = due.order_by("next_run_at").values_list("next_run_at", flat=True).first()
    return Backlog(
        due=min(count, BACKLOG_COUNT_CAP),
        capped=count > BACKLOG_COUNT_CAP,
        oldest_due_at=oldest,
        oldest_age_seconds=None if oldest is None else (now - oldest).total_seconds(),
    )


# --- Firing lag -----------------------------------------------------------------------


@dataclass(frozen=True)
class Lag:
    """How late firings were handed on (sent to the broker, else started), in seconds."""

    window: timedelta
    firings: int
    p50: float | None
    p99: float | None
    # SQLite only: computed over the latest LAG_SAMPLE_CAP firings of the window.
    sampled: bool = False


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False

    def __init__(self, expression: Any, *, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


class EpochSeconds(Func):
    """PostgreSQL: an interval as seconds (a double), which percentile_cont interpolates."""

    template = "EXTRACT(EPOCH FROM %(expressions)s)"
    output_field = FloatField()


def _lag() -> ExpressionWrapper:
    return ExpressionWrapper(
        Coalesce("sent_at", "started_at") - F("scheduled_for"), output_field=DurationField()
    )


def firing_lag(*, now: datetime) -> list[Lag]:
    """p50 and p99 lag of the firings due in the last hour and in the last day.

    Firings not handed on yet (claimed, or missed: never sent) have no lag
    and are not counted; the backlog shows what is late and not claimed.
    """
    recent = Occurrence.objects.filter(scheduled_for__gt=now - DAY, scheduled_for__lte=now)
    if connection.vendor == "postgresql":
        return _lag_in_sql(recent, now)
    return _lag_in_python(recent, now)


def _lag_in_sql(recent: Any, now: datetime) -> list[Lag]:
    lag = EpochSeconds(_lag())
    last_hour = Q(scheduled_for__gt=now - HOUR)
    row = recent.aggregate(
        day_n=Count(lag),
        day_p50=PercentileCont(lag, fraction=0.5),
        day_p99=PercentileCont(lag, fraction=0.99),
        hour_n=Count(lag, filter=last_hour),
        hour_p50=PercentileCont(lag, fraction=0.5, filter=last_hour),
        hour_p99=PercentileCont(lag, fraction=0.99, filter=last_hour),
    )
    return [
        Lag(window=window, firings=row[f"{key}_n"], p50=row[f"{key}_p50"], p99=row[f"{key}_p99"])
        for key, window in (("hour", HOUR), ("day", DAY))
    ]


def _lag_in_python(recent: Any, now: datetime) -> list[Lag]:
    rows = list(
        recent.annotate(lag=_lag())
        .filter(lag__isnull=False)
        .order_by("-scheduled_for")
        .values_list("scheduled_for", "lag")[:LAG_SAMPLE_CAP]
    )
    sampled = len(rows) == LAG_SAMPLE_CAP
    day = sorted(lag.total_seconds() for _, lag in rows)
    hour = sorted(lag.total_seconds() for at, lag in rows if at > now - HOUR)
    return [
        _lag_of(HOUR, hour, sampled=sampled and len(hour) == len(rows)),
        _lag_of(DAY, day, sampled=sampled),
    ]


def _lag_of(window: timedelta, ordered: Sequence[float], *, sampled: bool) -> Lag:
    return Lag(
        window=window,
        firings=len(ordered),
        p50=percentile_cont(ordered, 0.5),
        p99=percentile_cont(ordered, 0.99),
        sampled=sampled,
    )


def percentile_cont(ordered: Sequence[float], fraction: float) -> float | None:
    """Percentile ``fraction`` of sorted values, interpolated as PostgreSQL does; None if empty."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


# --- Outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcomes:
    """Firings that finished in ``(since, until]``, by final status (every one, zeros too)."""

    since: datetime
    until: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def outcomes(*, now: datetime, window: timedelta = DAY) -> Outcomes:
    since = now - window
    rows = (
        Occurrence.objects.filter(
            status__in=FINAL_OCCURRENCE_STATUSES, finished_at__gt=since, finished_at__lte=now
        )
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {str(status): 0 for status in FINAL_OCCURRENCE_STATUSES}
    counts.update({row["status"]: row["n"] for row in rows})
    return Outcomes(since=since, until=now, counts=counts)


# --- Latest failures ------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    occurrence_id: Any
    event_id: Any
    event_type: str
    entity_id: str
    scheduled_for: datetime
    finished_at: datetime | None  # never None: the query asks for finished ones
    attempts: int
    summary: str


def latest_failures(*, limit: int = 10) -> list[Failure]:
    """The ``limit`` failed firings that finished last, each error cut to its last line.

    Errors are decrypted here, ``limit`` of them; one that no key opens (a
    key retired too early) shows as such instead of breaking the page.
    """
    rows = (
        Occurrence.objects.filter(status=OccurrenceStatus.FAILED, finished_at__isnull=False)
        .order_by("-finished_at")
        .annotate(error_token=Cast("error", TextField()))
        .values_list(
            "pk",
            "event_id",
            "event__event_type",
            "event__entity_id",
            "scheduled_for",
            "finished_at",
            "attempts",
            "error_token",
        )[:limit]
    )
    return [
        Failure(pk, event, kind, entity, at, finished, attempts, _summary(token))
        for pk, event, kind, entity, at, finished, attempts, token in rows
    ]


def _summary(token: str | None) -> str:
    if token is None:
        return ""
    try:
        error = json.loads(encryption.decrypt(token))
    except encryption.PayloadDecryptionError:
        return "(error unreadable: no payload key opens it)"
    text = error if isinstance(error, str) else json.dumps(error)
    # A traceback's last line names the exception; a permanent error is one line.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= ERROR_SUMMARY_CHARS else last[: ERROR_SUMMARY_CHARS - 1] + "…"


# --- Upcoming timeline ----------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """Scheduled events by hour (UTC) of their ``next_run_at`` and by type, over a window.

    ``hours[i]`` starts bucket ``i``; ``counts[type][i]`` is its count. The
    first and last buckets are partial: the window is ``(start, end]``.
    Recurring events count at their next firing only.
    """

    start: datetime
    end: datetime
    hours: list[datetime]
    counts: dict[str, list[int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts.values())


def upcoming_timeline(*, now: datetime, window: timedelta = DAY) -> Timeline:
    end = now + window
    first = now.replace(minute=0, second=0, microsecond=0)
    # Up to the hour of ``end`` itself: an event due exactly at ``end`` counts.
    hours = [first + i * HOUR for i in range((end - first) // HOUR + 1)]
    rows = (
        ScheduledEvent.objects.filter(
            status=EventStatus.SCHEDULED,
            next_run_at__isnull=False,
            next_run_at__gt=now,
            next_run_at__lte=end,
        )
        .annotate(hour=TruncHour("next_run_at"))
        .values("hour", "event_type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[str, list[int]] = {}
    for row in rows:
        index = int((row["hour"] - first) / HOUR)
        counts.setdefault(row["event_type"], [0] * len(hours))[index] += row["n"]
    # Busiest type first: the legend reads as a ranking.
    ordered = dict(sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0])))
    return Timeline(start=now, end=end, hours=hours, counts=ordered)
