"""Stock DatabaseScheduler, RedBeat and the project's EventScheduler, in one run, on the same workload.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/beat_bench.py [--sizes 1000 10000 100000 1000000]
        [--database sqlite|postgres] [--kinds stock redbeat ours]
        [--burst-broker redis://127.0.0.1:6379/13] [--burst-size 10000]
        [--redbeat-redis redis://127.0.0.1:6379/12] [--reuse | --prepared]
        [--measurements ticks latency write burst] [--json results.json]
    .venv/bin/python benchmarks/report.py results.json [...] [--markdown FILE]

The workload for a size N: 95 % one-offs at random instants over the next 30 days (six
hours to 30 days ahead, so that nothing comes due while a size is measured, from
snapshots up to HORIZON_HOURS old), 5 % daily rules at a random time in New York,
London, Kolkata, Sydney or UTC, starting at such an instant. The same seeded draw gives
each scheduler the same instants:

- **ours** and **stock**: a database (``beat_bench_{N}`` on PostgreSQL, ``bench-{N}.sqlite3``
  in BENCH_DIR on SQLite) gets the N events through the project's API
  (``schedule_events``, batches of 5,000); each event is also the django-celery-beat
  ``PeriodicTask`` (clocked one-off, or crontab in the event's zone with a start time)
  that the stock scheduler reads, so both read the same rows. On PostgreSQL the tables are
  then vacuumed and analysed, as autovacuum would have done. The prepared database is
  kept as a snapshot (``beat_bench_{N}_pristine``, ``bench-{N}.pristine``) and restored
  before every measurement that follows one that changed it.
- **redbeat**: celery-redbeat's ``RedBeatScheduler``, its entries in Redis
  (``--redbeat-redis``, under the key prefix ``beat-bench:``; no lock:
  ``redbeat_lock_key=None``, so a killed child blocks no other). A one-off is
  ``redbeat.schedules.rrule("SECONDLY", dtstart=when, count=1)``: it fires once, then its
  score in the schedule becomes -1 and ticks skip it. A daily rule is
  ``celery.schedules.crontab(hour, minute)`` at the event's first instant in UTC.
  Differences that RedBeat imposes: a crontab has no zone of its own (it runs in the
  app's ``timezone``, UTC here, so a New York 09:00 drifts by an hour at each DST
  change) and no start date (it fires from today: about 1/24 of the daily entries fire
  within the first hour of a run, at 1M some 35 a minute, which the other two do not
  do; the ticks child counts what fired during its ticks as ``published``); an rrule's
  ``dtstart`` is stored in whole seconds, so RedBeat's live and burst events are due on
  whole seconds. Background entries run the task ``bench.noop`` (the default queue:
  never counted in a burst). celery's default ``beat_max_loop_interval`` would let
  RedBeat sleep 300 s between ticks; it runs with 5 s, django-celery-beat's default.
  RedBeat has no bulk write: the data is written with what ``entry.save()`` sends
  (HSET definition, HSETNX meta, ZADD schedule), pipelined 5,000 entries to a
  MULTI/EXEC (its time and rate: ``prepare``). The prepared entries are kept in Redis:
  each ``beat-bench:`` key (the entries' hashes and the schedule's sorted set) is
  ``COPY``-ed to ``beat-bench-pristine:``, and copied back before each of RedBeat's
  measurements after the first (``RedBeatStore``; Redis holds both copies while a size
  runs, about 2 x 1 GB at 1M).

Each measurement runs in a child process of its own (a crash or a time-out is a result
too, ``{"error": ...}``):

- **build**: constructing the scheduler and its first tick;
- **idle tick**: median of 30 ticks with nothing due and nothing changed (the tick's
  work: ``tick_once`` for ours, whose ``tick`` on PostgreSQL also spends the wait on the
  listening socket);
- **tick after insert**: median over 5 of (insert one one-off 40 days ahead, tick) - stock's
  insert is an ORM save of a ``ClockedSchedule`` and a ``PeriodicTask(one_off=True)``, as
  any code using it does; RedBeat's ``entry.save()``; ours ``schedule_event``;
- **live latency**: celery beat's own loop in a thread while 200 one-offs due over 60 s
  are inserted LEAD seconds before they are due (a booking made just before its
  reminder); publish time minus due time, over those published by the end (+10 s);
- **write**: the scheduling rate on the N events. single: 500 one-offs inserted one at a
  time (ours ``schedule_event``; stock ORM ``create`` of the clock and the task;
  RedBeat ``entry.save()``), 1 / median; bulk: 10,000 one-offs in batches of 5,000
  (ours ``schedule_events``; stock ``bulk_create`` of the clocks, then of the tasks,
  one transaction a batch - ``bulk_create`` skips ``PeriodicTask``'s signals, so
  ``PeriodicTasks.last_update`` is not bumped and a running stock beat does not see
  them until something else changes; RedBeat the pipelined saves above), events/s;
- **burst**: ``--burst-size`` one-offs due at the same second, added to the N events
  (ours and stock: ``schedule_events``, the rows stock reads; RedBeat: pipelined saves),
  due 15 s + 1 s per 1,000 after the child starts, then beat's loop started; seconds from
  that second until all are in the broker (the length of the ``backend-events`` list on
  ``--burst-broker``, which is flushed first; on the memory broker, until kombu took the
  last), waiting 300 s at most (less if beat's thread dies, or if it logs errors and
  has published nothing 60 s after: ``beat_error``); ``started_late`` if writing them
  took longer than that margin;
- **RSS**: the child's peak resident memory (the beat process only: not PostgreSQL's
  nor Redis's).

``--reuse`` skips preparing a size whose snapshot exists (the database's, RedBeat's; one
younger than HORIZON_HOURS, or its first events are due). ``--prepared`` takes the
database ``beat_bench_{N}`` (or ``bench-{N}.sqlite3``) as already filled, snapshots it
and measures; first it moves the events overdue or due within HORIZON_HOURS (a database
filled over hours has them) to 6 h - 30 d ahead, each cancelled and scheduled again
through the API (``settled`` in the results: how many, how long; ``--no-settle``: not).
Use ``--prepared`` once, ``--reuse`` after: a database already measured holds sent
firings whose leases lapse, and beat publishes them again. ``--measurements`` runs a
subset (a 100,000 burst on the 1M events: ``--sizes 1000000 --reuse --measurements
burst --burst-size 100000``; report.py gives each burst size a column).
Results go to docs/benchmarks.md (tables, ratios) and docs/benchmarks.png through
benchmarks/report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path(os.environ.get("BENCH_DIR", "/tmp/beat-bench"))
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney", "UTC"]
SCHEDULERS = {
    "stock": "django_celery_beat.schedulers:DatabaseScheduler",
    "redbeat": "redbeat:RedBeatScheduler",
    "ours": "scheduling.beat:EventScheduler",
}
MEASUREMENTS = ("ticks", "latency", "write", "burst")
CHILD_TIMEOUT = 900
LEAD = timedelta(seconds=1)
BATCH = 5000
REDBEAT_PREFIX = "beat-bench:"
REDBEAT_MAX_INTERVAL = 5
WRITE_SINGLES = 500
# No event of the workload is due within this many hours of its writing (a run at 1M
# lasts one or two): measurements restored from a snapshot hours old see no backlog.
HORIZON_HOURS = 6
WRITE_BULK = 10_000


# --- Child side: runs with Django set up on the size's database ----------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def _app(kind: str = "", broker: str = "memory://", redbeat_url: str = "") -> Any:
    from celery import Celery

    app = Celery("bench", set_as_current=True)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker
    app.conf.broker_transport_options = {}
    if kind == "redbeat":
        app.conf.update(
            redbeat_redis_url=redbeat_url,
            redbeat_redis_options={},
            redbeat_key_prefix=REDBEAT_PREFIX,
            redbeat_lock_key=None,
            beat_max_loop_interval=REDBEAT_MAX_INTERVAL,
        )
    return app


def _scheduler(kind: str, app: Any) -> Any:
    from celery.utils.imports import symbol_by_name

    return symbol_by_name(SCHEDULERS[kind])(app=app)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _workload(n: int) -> Iterator[tuple[int, int, bool]]:
    """(index, seconds from now, daily?) of the n events: the same draw for every kind."""
    rng = random.Random(n)
    for i in range(n):
        offset = rng.randint(HORIZON_HOURS * 3600, 30 * 86400)
        yield i, offset, rng.random() < 0.05


def _event(when: Any, recurring: bool = False, entity: str = "bench") -> dict[str, Any]:
    zone = random.choice(ZONES)
    return {
        "event_type": "DATA_CLEANUP",
        "entity_id": entity,
        "scheduled_time": when,
        "resource_timezone": zone,
        "user_timezone": zone,
        "payload": {"days_to_keep": 90},
        "recurrence": {"frequency": "DAILY"} if recurring else None,
    }


def _now() -> datetime:
    return datetime.now(UTC)


# RedBeat entries.


def _redbeat_entry(
    app: Any, name: str, when: datetime, daily: bool = False, task: str = "bench.noop"
) -> Any:
    from celery.schedules import crontab
    from redbeat import RedBeatSchedulerEntry
    from redbeat.schedules import rrule

    when = when.astimezone(UTC)
    if daily:
        # No zone of its own, no start: the app's timezone (UTC), from today.
        schedule: Any = crontab(hour=when.hour, minute=when.minute)
    else:
        schedule = rrule("SECONDLY", dtstart=when, count=1)
    kwargs = {"event_id": name, "days_to_keep": 90}
    return RedBeatSchedulerEntry(name, task, schedule, kwargs=kwargs, app=app)


def _redbeat_save_all(app: Any, entries: list[Any]) -> None:
    """What ``RedBeatSchedulerEntry.save()`` sends, for many entries in one pipeline.

    redbeat 2.4.2's ``save()`` opens a MULTI/EXEC pipeline of its own per entry
    (HSET definition, HSETNX meta, ZADD schedule); it has no bulk form.
    """
    from redbeat.decoder import RedBeatJSONEncoder
    from redbeat.schedulers import get_redis

    schedule_key = app.redbeat_conf.schedule_key
    with get_redis(app).pipeline() as pipe:
        for entry in entries:
            definition = {
                "name": entry.name,
                "task": entry.task,
                "args": entry.args,
                "kwargs": entry.kwargs,
                "options": entry.options,
                "schedule": entry.schedule,
                "enabled": entry.enabled,
            }
            meta = {"last_run_at": entry.last_run_at}
            pipe.hset(entry.key, "definition", json.dumps(definition, cls=RedBeatJSONEncoder))
            pipe.hsetnx(entry.key, "meta", json.dumps(meta, cls=RedBeatJSONEncoder))
            pipe.zadd(schedule_key, {entry.key: entry.score})
        pipe.execute()


def _redbeat_clear(app: Any) -> int:
    from redbeat.schedulers import get_redis

    client = get_redis(app)
    removed = 0
    keys: list[str] = []
    for key in client.scan_iter(match=REDBEAT_PREFIX + "*", count=5000):
        keys.append(key)
        if len(keys) >= BATCH:
            removed += client.unlink(*keys)
            keys = []
    if keys:
        removed += client.unlink(*keys)
    return removed


def child_prepare_redbeat(n: int, redbeat_url: str) -> dict[str, Any]:
    """Delete the bench's live RedBeat keys, then write the n entries of the workload."""
    from redbeat.schedulers import ensure_conf, get_redis

    app = _app("redbeat", redbeat_url=redbeat_url)
    ensure_conf(app)
    started = time.perf_counter()
    removed = _redbeat_clear(app)
    cleared = time.perf_counter() - started
    before = int(get_redis(app).info("memory")["used_memory"])
    now = _now()
    started = time.perf_counter()
    batch = []
    for i, offset, daily in _workload(n):
        batch.append(_redbeat_entry(app, f"e{i}", now + timedelta(seconds=offset), daily))
        if len(batch) >= BATCH:
            _redbeat_save_all(app, batch)
            batch = []
    if batch:
        _redbeat_save_all(app, batch)
    took = time.perf_counter() - started
    used = int(get_redis(app).info("memory")["used_memory"]) - before
    return {
        "insert_seconds": took,
        "per_s": n / took if took else None,
        "cleared_keys": removed,
        "clear_seconds": cleared,
        "redis_mb": used / 2**20,
    }


# The database kinds.


def child_prepare(n: int) -> dict[str, Any]:
    """Migrate and insert n events through the API, in batches."""
    from django.core.management import call_command

    from scheduling import schedule_events

    call_command("migrate", verbosity=0)
    now = _now()
    started = time.perf_counter()
    batch = []
    for i, offset, daily in _workload(n):
        batch.append(_event(now + timedelta(seconds=offset), recurring=daily, entity=f"e{i}"))
        if len(batch) >= BATCH:
            schedule_events(batch)
            batch = []
    if batch:
        schedule_events(batch)
    took = time.perf_counter() - started
    _analyze()
    return {"insert_seconds": took, "per_s": n / took if took else None}


def _analyze() -> None:
    """Give PostgreSQL the statistics autovacuum would have gathered by now.

    These machines run PostgreSQL with autovacuum off: without this, every
    table measured had no statistics at all, and plans guessed from none
    (stock's reload and ours' start read every beat row sequentially), which
    no production database with its defaults shows for long.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def child_settle(hours: float) -> dict[str, Any]:
    """Move the events due within ``hours`` (or overdue) to 6 h - 30 d ahead, through the API.

    For a database filled earlier (``--prepared``): its first events come due while
    later ones are written and while it is measured. Each is cancelled
    (``cancel_event``) and replaced by the same event at a random instant from
    ``hours`` to 30 days ahead (``schedule_events``); the number of events stays N.
    """
    from scheduling import cancel_event, schedule_events
    from scheduling.models import EventStatus, ScheduledEvent

    now = _now()
    started = time.perf_counter()
    soon = ScheduledEvent.objects.filter(
        status=EventStatus.SCHEDULED, next_run_at__lt=now + timedelta(hours=hours)
    ).values_list("id", "entity_id", "recurrence")
    rng = random.Random(0)
    moved = []
    # Read whole before the first cancel: no cursor left open on rows being changed.
    for event_id, entity, recurrence in list(soon):
        cancel_event(event_id)
        offset = rng.randint(int(hours * 3600), 30 * 86400)
        moved.append(_event(now + timedelta(seconds=offset), recurrence is not None, entity))
    for offset in range(0, len(moved), BATCH):
        schedule_events(moved[offset : offset + BATCH])
    _analyze()
    return {"moved": len(moved), "seconds": time.perf_counter() - started}


def _stock_one_off(when: datetime, name: str, task: str = "bench.noop") -> None:
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    clock = ClockedSchedule.objects.create(clocked_time=when)
    PeriodicTask.objects.create(name=name, task=task, clocked=clock, one_off=True)


def _insert_one(kind: str, app: Any, when: datetime, name: str) -> str:
    """One one-off as a user of each scheduler writes it; its key in ``_record_publishes``."""
    if kind == "ours":
        from scheduling import schedule_event

        return str(schedule_event(**_event(when, entity=name)).id)
    if kind == "redbeat":
        _redbeat_entry(app, name, when).save()
        return name
    _stock_one_off(when, name)
    return name


def _insert_many(kind: str, app: Any, when: datetime, names: list[str], task: str) -> None:
    """Many one-offs due at ``when``, in one batch (see the module's docstring)."""
    if kind == "redbeat":
        _redbeat_save_all(app, [_redbeat_entry(app, name, when, task=task) for name in names])
        return
    if kind == "stock-bulk":
        from django.db import transaction
        from django_celery_beat.models import ClockedSchedule, PeriodicTask

        with transaction.atomic():
            clocks = ClockedSchedule.objects.bulk_create(
                [ClockedSchedule(clocked_time=when) for _ in names]
            )
            PeriodicTask.objects.bulk_create(
                [
                    PeriodicTask(name=name, task=task, clocked=clock, one_off=True)
                    for name, clock in zip(names, clocks, strict=True)
                ]
            )
        return
    from scheduling import schedule_events

    schedule_events([_event(when, entity=name) for name in names])


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def child_ticks(kind: str, redbeat_url: str) -> dict[str, Any]:
    app = _app(kind, redbeat_url=redbeat_url)
    sent = _record_publishes()
    started = time.perf_counter()
    scheduler = _scheduler(kind, app)
    work = getattr(scheduler, "tick_once", scheduler.tick)
    work()
    build = time.perf_counter() - started
    idle = [_timed(work) for _ in range(30)]
    after_insert = []
    for i in range(5):
        _insert_one(kind, app, _now() + timedelta(days=40), f"extra-{i}-{time.time_ns()}")
        after_insert.append(_timed(work))
    return {
        "build_s": build,
        "idle_tick_ms": statistics.median(idle),
        "insert_tick_ms": statistics.median(after_insert),
        "published": _published_count(sent),
        "rss_mb": _rss_mb(),
    }


def _run_beat(kind: str, app: Any) -> Any:
    import threading

    from celery.beat import Service
    from celery.utils.imports import symbol_by_name

    service = Service(app=app, scheduler_cls=symbol_by_name(SCHEDULERS[kind]))
    thread = threading.Thread(target=service.start, daemon=True)
    thread.start()
    return service, thread


def _record_publishes() -> dict[str, float]:
    """When each task was handed to kombu, by event id (or task name), filled by beat's thread.

    Read it from the main thread only through ``_published_count`` or a copy
    (``dict(sent)``): iterating it while beat adds to it can fail or miss keys.
    """
    from celery.signals import after_task_publish

    sent: dict[str, float] = {}

    def record(headers: dict[str, Any], body: Any, **_: Any) -> None:
        kwargs = body[1] if isinstance(body, (list, tuple)) else {}
        key = kwargs.get("event_id") or headers.get("periodic_task_name") or headers["id"]
        sent.setdefault(str(key), time.time())

    after_task_publish.connect(record, weak=False)
    return sent


def _published_count(sent: dict[str, float]) -> int:
    # A copy first: beat's thread adds keys while this counts.
    return sum(1 for key in dict(sent) if not key.startswith("celery"))


def _queued(broker: str) -> int:
    """Messages in the broker's event queue: what a burst has really delivered.

    ``after_task_publish`` fires when kombu takes a message, before a
    pipelined batch is flushed to Redis; the queue's length is what workers see.
    """
    import redis

    client = redis.Redis.from_url(broker)
    # kombu's Redis queue is a list named after the queue (priority lists add a suffix).
    return sum(int(client.llen(key)) for key in client.scan_iter(match="backend-events*"))


def child_latency(kind: str, redbeat_url: str) -> dict[str, Any]:
    """200 one-offs due over 60 s, each inserted LEAD before it is due, while beat runs."""
    app = _app(kind, redbeat_url=redbeat_url)
    sent = _record_publishes()
    errors = _record_errors()
    service, _ = _run_beat(kind, app)
    time.sleep(2)
    due: dict[str, float] = {}
    first = _now() + LEAD
    for i in range(200):
        when = first + timedelta(seconds=60 * i / 200)
        if kind == "redbeat":
            # RedBeat keeps an rrule's start in whole seconds.
            when = when.replace(microsecond=0)
        pause = (when - LEAD - _now()).total_seconds()
        if pause > 0:
            time.sleep(pause)
        due[_insert_one(kind, app, when, f"live-{i}")] = when.timestamp()
    time.sleep(10)
    service.stop()
    published = dict(sent)
    late = sorted(published[k] - t for k, t in due.items() if k in published)
    return {
        "sent": len(late),
        "p50_s": statistics.median(late) if late else None,
        "p99_s": late[int(len(late) * 0.99) - 1] if late else None,
        "max_s": late[-1] if late else None,
        "beat_error": errors[0] if errors else None,
    }


def child_write(kind: str, redbeat_url: str) -> dict[str, Any]:
    """The scheduling rate: one at a time, then in batches (see the module's docstring)."""
    app = _app(kind, redbeat_url=redbeat_url)
    rng = random.Random(7)
    now = _now()

    def when() -> datetime:
        return now + timedelta(seconds=rng.randint(3600, 30 * 86400))

    single = [
        _timed(lambda i=i: _insert_one(kind, app, when(), f"write-{i}"))
        for i in range(WRITE_SINGLES)
    ]
    bulk_kind = "stock-bulk" if kind == "stock" else kind
    task = "backend.process_event" if kind == "ours" else "bench.noop"
    started = time.perf_counter()
    for offset in range(0, WRITE_BULK, BATCH):
        names = [f"bulk-{i}" for i in range(offset, min(WRITE_BULK, offset + BATCH))]
        # One instant per batch is enough for the write; the rows differ by name.
        _insert_many(bulk_kind, app, when(), names, task)
    bulk = time.perf_counter() - started
    p50 = statistics.median(single)
    return {
        "single_p50_ms": p50,
        "single_p90_ms": sorted(single)[int(len(single) * 0.9) - 1],
        "single_per_s": 1000 / p50,
        "bulk_seconds": bulk,
        "bulk_per_s": WRITE_BULK / bulk,
        "rss_mb": _rss_mb(),
    }


def child_burst(kind: str, broker: str, size: int, redbeat_url: str) -> dict[str, Any]:
    """``size`` one-offs due at the same second; seconds until all are in the broker."""
    from scheduling.conf import EVENT_TASK_NAME

    in_broker = broker.startswith("redis")
    if in_broker:
        import redis

        redis.Redis.from_url(broker).flushdb()
    app = _app(kind, broker, redbeat_url)
    # Time enough to write them all before they are due (ours writes ~4,000 a second).
    margin = 15 + size / 1000
    when = (_now() + timedelta(seconds=margin)).replace(microsecond=0)
    started = time.perf_counter()
    for offset in range(0, size, BATCH):
        names = [f"burst-{i}" for i in range(offset, min(size, offset + BATCH))]
        # Stock reads the rows ours writes: both get them through schedule_events.
        _insert_many("redbeat" if kind == "redbeat" else "ours", app, when, names, EVENT_TASK_NAME)
    written = time.perf_counter() - started
    sent = _record_publishes()
    errors = _record_errors()
    service, thread = _run_beat(kind, app)
    started_late = time.time() > when.timestamp()
    deadline = when.timestamp() + 300
    done_at = None
    count = 0
    while time.time() < deadline:
        count = _queued(broker) if in_broker else _published_count(sent)
        if count >= size:
            done_at = time.time()
            break
        if not thread.is_alive() or (errors and not count and time.time() > when.timestamp() + 60):
            break  # beat died, or fails on every pass: nothing more will come
        time.sleep(0.01)
    waited = time.time() - when.timestamp()
    service.stop()
    return {
        "size": size,
        "published": _published_count(sent),
        "queued": _queued(broker) if in_broker else None,
        "measured": "in the broker" if in_broker else "handed to kombu (memory broker)",
        "seconds": done_at - when.timestamp() if done_at is not None else None,
        "waited_s": waited,
        "beat_error": errors[0] if errors else None,
        "write_seconds": written,
        "started_late": started_late,
        "rss_mb": _rss_mb(),
    }


def _record_errors() -> list[str]:
    """What beat's thread logs at ERROR or above, and what kills it."""
    import logging
    import threading

    errors: list[str] = []

    def died(hook: Any) -> None:
        errors.append(f"beat's thread died: {hook.exc_type.__name__}: {hook.exc_value}"[:200])

    threading.excepthook = died

    class Record(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({record.exc_info[1]})"
            errors.append(text[:200])

    logging.getLogger().addHandler(Record(level=logging.ERROR))
    return errors


def child_main(args: argparse.Namespace) -> None:
    _django()
    task = args.child
    if task == "prepare":
        result = child_prepare(args.n)
    elif task == "settle":
        result = child_settle(HORIZON_HOURS)
    elif task == "prepare-redbeat":
        result = child_prepare_redbeat(args.n, args.redbeat_redis)
    elif task == "ticks":
        result = child_ticks(args.kind, args.redbeat_redis)
    elif task == "latency":
        result = child_latency(args.kind, args.redbeat_redis)
    elif task == "write":
        result = child_write(args.kind, args.redbeat_redis)
    else:
        result = child_burst(args.kind, args.broker, args.burst_size, args.redbeat_redis)
    print("RESULT " + json.dumps(result))


# --- Parent side: one prepared database per size, children per measurement -----------


def _database_url(database: str, n: int) -> str:
    if database == "postgres":
        return f"postgres://postgres@127.0.0.1:5432/beat_bench_{n}"
    return f"sqlite:///{WORKDIR / f'bench-{n}.sqlite3'}"


def _fresh_database(database: str, n: int) -> None:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if database == "postgres":
        _pg(
            f"DROP DATABASE IF EXISTS beat_bench_{n} WITH (FORCE)",
            f"CREATE DATABASE beat_bench_{n}",
        )
        return
    for suffix in ("", "-wal", "-shm"):
        (WORKDIR / f"bench-{n}.sqlite3{suffix}").unlink(missing_ok=True)


def _pg(*statements: str) -> list[Any]:
    import psycopg

    rows = []
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        for statement in statements:
            cursor = c.execute(statement)
            rows.append(cursor.fetchall() if cursor.description else None)
    return rows


def _strategy(template: str) -> str:
    """How to copy a template: file by file when it is large (PostgreSQL 15+).

    WAL_LOG, the default, writes the whole copy to the WAL: fine for a small database,
    slow for millions of rows. FILE_COPY costs a checkpoint instead.
    """
    ((version, size),) = _pg(
        f"SELECT current_setting('server_version_num')::int, pg_database_size('{template}')"
    )[0]
    return " STRATEGY = FILE_COPY" if version >= 150000 and size > 2**30 else ""


def _has_database(database: str, n: int, suffix: str = "") -> bool:
    if database == "postgres":
        found = _pg(f"SELECT 1 FROM pg_database WHERE datname = 'beat_bench_{n}{suffix}'")
        return bool(found[0])
    name = f"bench-{n}.pristine" if suffix else f"bench-{n}.sqlite3"
    return (WORKDIR / name).exists()


def _snapshot(database: str, n: int) -> None:
    """Keep the prepared data, so that each measurement starts from it unchanged."""
    if database == "postgres":
        _pg(
            f"DROP DATABASE IF EXISTS beat_bench_{n}_pristine WITH (FORCE)",
            f"CREATE DATABASE beat_bench_{n}_pristine TEMPLATE beat_bench_{n}{_strategy(f'beat_bench_{n}')}",
        )
        return
    import sqlite3

    path = WORKDIR / f"bench-{n}.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(path, WORKDIR / f"bench-{n}.pristine")


def _restore(database: str, n: int) -> None:
    if database == "postgres":
        _pg(
            f"DROP DATABASE IF EXISTS beat_bench_{n} WITH (FORCE)",
            f"CREATE DATABASE beat_bench_{n} TEMPLATE beat_bench_{n}_pristine{_strategy(f'beat_bench_{n}_pristine')}",
        )
        return
    _fresh_database(database, n)
    shutil.copyfile(WORKDIR / f"bench-{n}.pristine", WORKDIR / f"bench-{n}.sqlite3")


def run_child(url: str, *argv: str, timeout: float = CHILD_TIMEOUT) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "VAR_DIR": str(WORKDIR / "var"),
        "SCHEDULING_BEAT_LOCK": "0",
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, __file__, *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]) | {"wall_s": time.perf_counter() - started}
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": tail[0][:160]}


def _prepare_timeout(n: int) -> float:
    # Preparing is not measured against a limit: about 500 events/s at the least.
    return max(CHILD_TIMEOUT, n / 500)


def _prepare_database(
    database: str, n: int, url: str, reuse: bool, prepared: bool, settle: bool = True
) -> Any:
    """Fill (or adopt) the size's database and snapshot it; return (result, dirty)."""
    if reuse and _has_database(database, n, "_pristine"):
        return {"reused": "the existing snapshot"}, True
    if prepared:
        if not _has_database(database, n):
            return {"error": f"--prepared: no database for {n}"}, False
        result: dict[str, Any] = {"reused": "the database as found (--prepared)"}
        if settle:
            settled = run_child(url, "--child", "settle", timeout=_prepare_timeout(n))
            if "error" in settled:
                return {"error": f"settle: {settled['error']}"}, False
            result["settled"] = settled
    else:
        _fresh_database(database, n)
        result = run_child(url, "--child", "prepare", "--n", str(n), timeout=_prepare_timeout(n))
        if "error" in result:
            return result, False
    try:
        _snapshot(database, n)
    except Exception as exc:  # noqa: BLE001 - recorded as the size's result
        return {"error": f"snapshot: {exc}"[:160]}, False
    return result, False


class RedBeatStore:
    """RedBeat's prepared entries, kept in Redis under a second prefix and copied back.

    The snapshot is a server-side ``COPY`` of every ``beat-bench:`` key (the entries'
    hashes and the schedule's sorted set, whose members are the entries' key names) to
    ``beat-bench-pristine:``; a restore unlinks the ``beat-bench:`` keys and copies the
    snapshot back. ``beat-bench-pristine-size`` names the size it holds (``--reuse``).
    Redis holds both while a size is measured (about 2 x 1 GB at 1M entries); the live
    keys are removed after the size's last RedBeat measurement.
    """

    LIVE = REDBEAT_PREFIX
    PRISTINE = "beat-bench-pristine:"
    MARKER = "beat-bench-pristine-size"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, decode_responses=True)

    def holds(self, n: int) -> bool:
        return self.client.get(self.MARKER) == str(n)

    def _batches(self, prefix: str) -> Iterator[list[str]]:
        keys: list[str] = []
        for key in self.client.scan_iter(match=prefix + "*", count=BATCH):
            keys.append(key)
            if len(keys) >= BATCH:
                yield keys
                keys = []
        if keys:
            yield keys

    def clear(self, prefix: str) -> None:
        for keys in self._batches(prefix):
            self.client.unlink(*keys)

    def _copy(self, source: str, target: str) -> None:
        for keys in self._batches(source):
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.copy(key, target + key[len(source) :], replace=True)
                pipe.execute()

    def snapshot(self, n: int) -> float:
        started = time.perf_counter()
        self.client.delete(self.MARKER)
        self.clear(self.PRISTINE)
        self._copy(self.LIVE, self.PRISTINE)
        self.client.set(self.MARKER, str(n))
        return time.perf_counter() - started

    def restore(self) -> float:
        started = time.perf_counter()
        self.clear(self.LIVE)
        self._copy(self.PRISTINE, self.LIVE)
        return time.perf_counter() - started


def measure(args: argparse.Namespace) -> dict[str, Any]:
    database, out, kinds = args.database, args.json, args.kinds
    started = time.time()
    results: dict[str, Any] = {
        "database": database,
        "burst_size": args.burst_size,
        "measurements": args.measurements,
        "burst_broker": args.burst_broker,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "versions": _versions(database, args.redbeat_redis),
        "rows": [],
    }
    for n in args.sizes:
        row: dict[str, Any] = {"n": n}
        results["rows"].append(row)
        url = _database_url(database, n)
        dirty = False
        if any(kind != "redbeat" for kind in kinds):
            row["prepare"], dirty = _prepare_database(
                database, n, url, args.reuse, args.prepared, not args.no_settle
            )
            print(n, "prepare", json.dumps(row["prepare"]), flush=True)
        else:
            # RedBeat's children read no table, but Django is set up on one.
            url = f"sqlite:///{WORKDIR / 'redbeat-only.sqlite3'}"
        for kind in kinds:
            row[kind] = {}
            if kind == "redbeat":
                _measure_redbeat(args, row[kind], n, url)
            else:
                for what in args.measurements:
                    row[kind][what] = _measure_database(args, row, n, url, kind, what, dirty)
                    dirty = True
                    _save(out, results)
            print(n, kind, json.dumps(row[kind]), flush=True)
            _save(out, results)
    results["elapsed_s"] = time.time() - started
    _save(out, results)
    return results


def _child_argv(args: argparse.Namespace, kind: str, what: str) -> list[str]:
    argv = ["--child", what, "--kind", kind, "--redbeat-redis", args.redbeat_redis]
    if what == "burst":
        argv += ["--broker", args.burst_broker, "--burst-size", str(args.burst_size)]
    return argv


def _measure_database(
    args: argparse.Namespace,
    row: dict[str, Any],
    n: int,
    url: str,
    kind: str,
    what: str,
    dirty: bool,
) -> dict[str, Any]:
    if "error" in row["prepare"]:
        return {"error": f"prepare: {row['prepare']['error']}"}
    if dirty:
        try:
            _restore(args.database, n)
        except Exception as exc:  # noqa: BLE001 - recorded as the measurement's result
            return {"error": f"restore: {exc}"[:160]}
    return run_child(url, *_child_argv(args, kind, what))


def _measure_redbeat(args: argparse.Namespace, into: dict[str, Any], n: int, url: str) -> None:
    try:
        store = RedBeatStore(args.redbeat_redis)
        if args.reuse and store.holds(n):
            into["prepare"] = {"reused": "the existing snapshot"}
        else:
            into["prepare"] = run_child(
                url,
                "--child",
                "prepare-redbeat",
                "--n",
                str(n),
                "--redbeat-redis",
                args.redbeat_redis,
                timeout=_prepare_timeout(n),
            )
            if "error" not in into["prepare"]:
                into["prepare"]["snapshot_seconds"] = store.snapshot(n)
        restores = []
        for i, what in enumerate(args.measurements):
            if "error" in into["prepare"]:
                into[what] = {"error": f"prepare: {into['prepare']['error']}"}
                continue
            if i or "reused" in into["prepare"]:
                restores.append(store.restore())
            into[what] = run_child(url, *_child_argv(args, "redbeat", what))
        into["prepare"]["restore_seconds"] = restores
        store.clear(store.LIVE)
    except Exception as exc:  # noqa: BLE001 - Redis away: the size's result, not a crash
        into.setdefault("prepare", {})["error"] = f"{exc.__class__.__name__}: {exc}"[:160]
        for what in args.measurements:
            into.setdefault(what, {"error": into["prepare"]["error"]})


def _versions(database: str, redbeat_url: str) -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for package in ("Django", "celery", "django-celery-beat", "celery-redbeat", "redis"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        import redis

        versions["redis server"] = redis.Redis.from_url(redbeat_url).info()["redis_version"]
    except Exception as exc:  # noqa: BLE001 - a version is a label, not a requirement
        versions["redis server"] = f"unknown ({exc.__class__.__name__})"
    if database == "postgres":
        versions["postgres"] = _pg("SHOW server_version")[0][0][0]
    else:
        import sqlite3

        versions["sqlite"] = sqlite3.sqlite_version
    return versions


def _save(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


def _redis_db(url: str) -> tuple[str, str]:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.netloc, (parsed.path.strip("/") or "0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--burst-broker", default="memory://")
    parser.add_argument("--burst-size", type=int, default=10_000)
    parser.add_argument("--redbeat-redis", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--json", type=Path, default=WORKDIR / "results.json")
    parser.add_argument("--kinds", nargs="+", choices=list(SCHEDULERS), default=list(SCHEDULERS))
    parser.add_argument(
        "--measurements",
        nargs="+",
        choices=MEASUREMENTS,
        default=list(MEASUREMENTS),
        help="a subset, e.g. --measurements burst --burst-size 100000 --reuse",
    )
    prepared = parser.add_mutually_exclusive_group()
    prepared.add_argument(
        "--reuse", action="store_true", help="skip preparing a size whose snapshot exists"
    )
    prepared.add_argument(
        "--prepared",
        action="store_true",
        help="beat_bench_{n} (bench-{n}.sqlite3) is already filled: snapshot it and measure",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="with --prepared: leave the events due within HORIZON_HOURS where they are",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--broker", default="memory://", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.burst_broker.startswith("redis") and _redis_db(args.burst_broker) == _redis_db(
        args.redbeat_redis
    ):
        parser.error(
            "--burst-broker is flushed before each burst: give it another db than --redbeat-redis"
        )
    results = measure(args)
    print(f"raw results: {args.json} ({results['elapsed_s']:.0f} s)")


if __name__ == "__main__":
    main()
