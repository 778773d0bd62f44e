"""The engine's Prometheus metrics: what beat, the worker and the web process observe.

Each process writes its own series. Under gunicorn and Celery's prefork
pool one process does not see another's memory, so when
``PROMETHEUS_MULTIPROC_DIR`` is set every process writes its values to
files in that directory and the endpoint (``scheduling.metrics.views``)
adds them up at scrape time. The series read from the database (events by
status, due backlog, oldest due age, beat's last tick) are computed at
scrape time instead (``scheduling.metrics.collector``). docs/operations.md
lists every series.

prometheus_client chooses between in-memory values and files when it is
first imported, from the environment: the project sets the variable before
anything imports it (project/settings.py does, for the example project).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import Counter, Gauge, Histogram, values

from scheduling.metrics import processes
from scheduling.metrics.processes import MULTIPROC_ENV, multiproc_dir

if TYPE_CHECKING:
    from scheduling.models import Occurrence

if multiproc_dir() and not getattr(values.ValueClass, "_multiprocess", False):
    # Values would stay in this process's memory and the endpoint would
    # never see them: fail at start rather than show zeros.
    raise ImproperlyConfigured(
        f"prometheus_client was imported before {MULTIPROC_ENV} was set; "
        "set it in the environment or at the top of the settings module"
    )

# Seconds late, from the instant an occurrence was due. Sub-second is the
# target (docs/architecture.md); the long tail shows outages and backlogs.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

PUBLISH_LAG = Histogram(
    "scheduling_publish_lag_seconds",
    "Seconds from an occurrence's due instant to beat publishing it (first publish only).",
    buckets=LAG_BUCKETS,
)
START_LAG = Histogram(
    "scheduling_start_lag_seconds",
    "Seconds from an occurrence's due instant to a worker starting its first attempt.",
    ["event_type"],
    buckets=LAG_BUCKETS,
)
OCCURRENCES = Counter(
    "scheduling_occurrences",
    "Attempts a worker ended, by outcome: succeeded, failed, retrying, skipped, missed, ignored.",
    ["event_type", "outcome"],
)
BEAT_TICK = Histogram(
    "scheduling_beat_tick_seconds",
    "Seconds one beat tick took (events due, heartbeat, stock periodic tasks).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PUBLISH_BATCH = Histogram(
    "scheduling_beat_publish_batch_size",
    "Occurrences beat claimed and published in one batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
REPUBLISHED = Counter(
    "scheduling_beat_republished",
    "Occurrences beat published again because their lease lapsed (lost message or worker).",
)
# livemax: a beat's file is dropped when it exits (or is found dead at a
# scrape), so a beat killed while leading does not stay "leader" forever.
BEAT_LEADER = Gauge(
    "scheduling_beat_leader",
    "1 while this beat instance holds the beat lock, 0 while it stands by.",
    ["instance"],
    multiprocess_mode="livemax",
)
# Only processes that write series (web, worker, beat) leave files behind,
# and only they need to mark themselves dead at exit.
processes.connect()

HTTP_REQUESTS = Counter(
    "scheduling_http_requests",
    "HTTP requests answered, by route name (not path), method and status code.",
    ["route", "method", "status"],
)


def observe_published(due_instants: Iterable[datetime | None], *, now: datetime) -> int:
    """Record one published batch; return its size."""
    size = 0
    for due in due_instants:
        size += 1
        if due is not None:
            PUBLISH_LAG.observe(max(0.0, (now - due).total_seconds()))
    if size:
        PUBLISH_BATCH.observe(size)
    return size


def observe_start(occurrence: Occurrence, *, published: bool) -> None:
    """Record the start lag of a first attempt at a firing beat ``published``.

    Retries and runs asked for by hand (not published by beat) are not late.
    """
    if occurrence.attempts != 1 or not published or occurrence.started_at is None:
        return
    lag = (occurrence.started_at - occurrence.scheduled_for).total_seconds()
    START_LAG.labels(event_type=occurrence.event.event_type).observe(max(0.0, lag))


def count_outcome(event_type: str, outcome: str) -> None:
    OCCURRENCES.labels(event_type=event_type, outcome=outcome).inc()
