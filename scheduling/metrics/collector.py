"""Series read from the database at scrape time, each from a cheap query.

- events by status: ``scheduled`` is counted at every scrape from the
  partial index on scheduled events; the other statuses only grow (history)
  and have no index, so their full count is cached per process for
  ``SCHEDULING_METRICS_STATUS_COUNT_SECONDS``: one table scan per process
  per interval, however often Prometheus scrapes.
- due backlog and oldest due age: a range and the first entry of
  ``event_due_idx``, the backlog counted up to ``SCHEDULING_METRICS_COUNT_LIMIT``.
- the age of the leader beat's last tick: a table of a handful of rows.

A database error leaves those series out and sets
``scheduling_metrics_database_up`` to 0: the process's own series are
still served.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError
from django.utils import timezone
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scheduling import selectors
from scheduling.models import EventStatus

logger = logging.getLogger(__name__)


class _StatusCounts:
    """The full count by status, read again once it is older than the interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] | None = None
        self._read_at = 0.0

    def get(self) -> dict[str, int]:
        with self._lock:
            age = time.monotonic() - self._read_at
            if self._counts is None or age >= settings.SCHEDULING_METRICS_STATUS_COUNT_SECONDS:
                self._counts = selectors.event_counts_by_status()
                self._read_at = time.monotonic()
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._counts = None


status_counts = _StatusCounts()


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        try:
            families = list(_database_families(now))
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("metrics: database series left out (%s)", type(exc).__name__)
            families = []
        up = GaugeMetricFamily(
            "scheduling_metrics_database_up",
            "1 if this scrape read the database-derived series, 0 if the database failed.",
            value=1 if families else 0,
        )
        yield from families
        yield up


def _database_families(now: datetime) -> Iterator[Metric]:
    counts = status_counts.get()
    counts[EventStatus.SCHEDULED] = selectors.scheduled_event_count()
    events = GaugeMetricFamily(
        "scheduling_events",
        "Events by status (statuses other than scheduled may be a few minutes old).",
        labels=["status"],
    )
    for status, count in sorted(counts.items()):
        events.add_metric([status], count)
    yield events
    limit = settings.SCHEDULING_METRICS_COUNT_LIMIT
    yield GaugeMetricFamily(
        "scheduling_due_backlog",
        f"Scheduled events due now and not yet claimed by beat (counted up to {limit}).",
        value=selectors.due_backlog(now=now, limit=limit),
    )
    oldest = selectors.next_due_at()
    age = (now - oldest).total_seconds() if oldest is not None and oldest <= now else 0.0
    yield GaugeMetricFamily(
        "scheduling_oldest_due_age_seconds",
        "Seconds the oldest unclaimed due event has been waiting (0 when none is due).",
        value=age,
    )
    last_tick = selectors.leader_last_tick()
    if last_tick is not None:
        yield GaugeMetricFamily(
            "scheduling_beat_last_tick_age_seconds",
            "Seconds since a beat holding the lock last recorded a tick (its heartbeat).",
            value=max(0.0, (now - last_tick).total_seconds()),
        )
