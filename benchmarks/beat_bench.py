"""Stock DatabaseScheduler vs the project's EventScheduler, in one run, on the same data.

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/beat_bench.py [--sizes 1000 10000 100000 1000000]
        [--database sqlite|postgres] [--burst-broker redis://127.0.0.1:6379/13]

For each size N a fresh database gets N scheduled events through the project's
API (95 % one-offs over the next 30 days, 5 % daily rules at random times in
New York, London, Kolkata, Sydney and UTC): each event is also the
django-celery-beat row the stock scheduler reads. Each measurement runs in a
child process of its own (a crash or a time-out is a result too):

- build: constructing the scheduler and its first tick;
- idle tick: median of 30 ticks with nothing due and nothing changed;
- tick after insert: median over 5 of (insert one event, tick) - the stock
  scheduler's insert is an ORM save of a clocked PeriodicTask, as any code
  using it does;
- live latency: celery beat's own loop in a thread while 200 events due over
  60 s are inserted LEAD seconds before they are due (a booking made just
  before its reminder); publish time minus due time;
- burst: 10,000 events due at the same second, time until all are in the broker (the
  queue's length on Redis; on the memory broker, until kombu took the last)
  (on --burst-broker when given, else in memory);
- RSS: the child's peak resident memory.

Results go to docs/benchmarks.md (a table, the ratios) and docs/benchmarks.png.
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
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path(os.environ.get("BENCH_DIR", "/tmp/beat-bench"))
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney", "UTC"]
SCHEDULERS = {
    "stock": "django_celery_beat.schedulers:DatabaseScheduler",
    "ours": "scheduling.beat:EventScheduler",
}
CHILD_TIMEOUT = 900
LEAD = timedelta(seconds=1)


# --- Child side: runs with Django set up on the size's database ----------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def _app(broker: str = "memory://") -> Any:
    from celery import Celery

    app = Celery("bench", set_as_current=True)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = broker
    app.conf.broker_transport_options = {}
    return app


def _scheduler(kind: str, app: Any) -> Any:
    from celery.utils.imports import symbol_by_name

    return symbol_by_name(SCHEDULERS[kind])(app=app)


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def child_prepare(n: int) -> dict[str, Any]:
    """Migrate and insert n events through the API, in batches."""
    from django.core.management import call_command
    from django.utils import timezone

    from scheduling import schedule_events

    call_command("migrate", verbosity=0)
    rng = random.Random(n)
    now = timezone.now()
    started = time.perf_counter()
    for offset in range(0, n, 5000):
        batch = []
        for i in range(offset, min(n, offset + 5000)):
            when = now + timedelta(seconds=rng.randint(3600, 30 * 86400))
            batch.append(_event(when, recurring=rng.random() < 0.05, entity=f"e{i}"))
        schedule_events(batch)
    return {"insert_seconds": time.perf_counter() - started}


def _insert_one(kind: str) -> None:
    from django.utils import timezone

    when = timezone.now() + timedelta(days=40)
    if kind == "ours":
        from scheduling import schedule_event

        schedule_event(**_event(when, entity=f"extra-{time.perf_counter_ns()}"))
        return
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    clock = ClockedSchedule.objects.create(clocked_time=when)
    PeriodicTask.objects.create(
        name=f"extra-{time.perf_counter_ns()}", task="bench.noop", clocked=clock, one_off=True
    )


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def child_ticks(kind: str) -> dict[str, Any]:
    app = _app()
    started = time.perf_counter()
    scheduler = _scheduler(kind, app)
    scheduler.tick()
    build = time.perf_counter() - started
    idle = [_timed(scheduler.tick) for _ in range(30)]
    after_insert = []
    for _ in range(5):
        _insert_one(kind)
        after_insert.append(_timed(scheduler.tick))
    return {
        "build_s": build,
        "idle_tick_ms": statistics.median(idle),
        "insert_tick_ms": statistics.median(after_insert),
        "rss_mb": _rss_mb(),
    }


def _run_beat(kind: str, app: Any, seconds: float) -> Any:
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


def child_latency(kind: str) -> dict[str, Any]:
    """200 events due over 60 s, each inserted LEAD before it is due, while beat runs."""
    from django.utils import timezone

    app = _app()
    sent = _record_publishes()
    service, _ = _run_beat(kind, app, 75)
    time.sleep(2)
    due: dict[str, float] = {}
    first = timezone.now() + LEAD
    for i in range(200):
        when = first + timedelta(seconds=60 * i / 200)
        pause = (when - LEAD - timezone.now()).total_seconds()
        if pause > 0:
            time.sleep(pause)
        due[_insert_due(kind, when, i)] = when.timestamp()
    time.sleep(10)
    service.stop()
    late = sorted(sent[k] - t for k, t in due.items() if k in sent)
    return {
        "sent": len(late),
        "p50_s": statistics.median(late) if late else None,
        "p99_s": late[int(len(late) * 0.99) - 1] if late else None,
        "max_s": late[-1] if late else None,
    }


def _insert_due(kind: str, when: Any, i: int) -> str:
    if kind == "ours":
        from scheduling import schedule_event

        return str(schedule_event(**_event(when, entity=f"live-{i}")).id)
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    clock = ClockedSchedule.objects.create(clocked_time=when)
    name = f"live-{i}"
    PeriodicTask.objects.create(name=name, task="bench.noop", clocked=clock, one_off=True)
    return name


def child_burst(kind: str, broker: str) -> dict[str, Any]:
    """10,000 events due at the same second; seconds until the last is published."""
    from django.utils import timezone

    from scheduling import schedule_events

    if broker.startswith("redis"):
        import redis

        redis.Redis.from_url(broker).flushdb()
    when = timezone.now() + timedelta(seconds=20)
    schedule_events([_event(when, entity=f"burst-{i}") for i in range(10_000)])
    app = _app(broker)
    sent = _record_publishes()
    service, _ = _run_beat(kind, app, 0)
    in_broker = broker.startswith("redis")
    deadline = when.timestamp() + 300
    done_at = None
    while time.time() < deadline:
        count = _queued(broker) if in_broker else _published_count(sent)
        if count >= 10_000:
            done_at = time.time()
            break
        time.sleep(0.01)
    service.stop()
    published = _published_count(sent)
    done = done_at - when.timestamp() if done_at is not None else None
    return {
        "published": published,
        "measured": "in the broker" if in_broker else "handed to kombu (memory broker)",
        "seconds": done,
        "rss_mb": _rss_mb(),
    }


def child_main(args: argparse.Namespace) -> None:
    _django()
    task = args.child
    if task == "prepare":
        result = child_prepare(args.n)
    elif task == "ticks":
        result = child_ticks(args.kind)
    elif task == "latency":
        result = child_latency(args.kind)
    else:
        result = child_burst(args.kind, args.broker)
    print("RESULT " + json.dumps(result))


# --- Parent side: one fresh database per size, children per measurement ---------------


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


def _pg(*statements: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        for statement in statements:
            c.execute(statement)


def _snapshot(database: str, n: int) -> None:
    """Keep the prepared data, so that each measurement starts from it unchanged."""
    if database == "postgres":
        _pg(
            f"DROP DATABASE IF EXISTS beat_bench_{n}_pristine WITH (FORCE)",
            f"CREATE DATABASE beat_bench_{n}_pristine TEMPLATE beat_bench_{n}",
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
            f"CREATE DATABASE beat_bench_{n} TEMPLATE beat_bench_{n}_pristine",
        )
        return
    _fresh_database(database, n)
    shutil.copyfile(WORKDIR / f"bench-{n}.pristine", WORKDIR / f"bench-{n}.sqlite3")


def run_child(url: str, *argv: str) -> dict[str, Any]:
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
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:]) | {"wall_s": time.perf_counter() - started}
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
    return {"error": tail[0][:160]}


def measure(
    database: str, sizes: list[int], burst_broker: str, out: Path, kinds: list[str]
) -> None:
    results: dict[str, Any] = {"database": database, "rows": []}
    for n in sizes:
        _fresh_database(database, n)
        url = _database_url(database, n)
        row: dict[str, Any] = {
            "n": n,
            "prepare": run_child(url, "--child", "prepare", "--n", str(n)),
        }
        _snapshot(database, n)
        for kind in kinds:
            row[kind] = {}
            for what in ("ticks", "latency"):
                _restore(database, n)
                row[kind][what] = run_child(url, "--child", what, "--kind", kind)
            print(n, kind, json.dumps(row[kind]), flush=True)
        results["rows"].append(row)
        _save(out, results)
    bursts = {}
    for kind in kinds:
        _fresh_database(database, 0)
        url = _database_url(database, 0)
        run_child(url, "--child", "prepare", "--n", "0")
        bursts[kind] = run_child(url, "--child", "burst", "--kind", kind, "--broker", burst_broker)
        print("burst", kind, json.dumps(bursts[kind]), flush=True)
    results["rows"].append({"burst": bursts})
    _save(out, results)


def _save(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--burst-broker", default="memory://")
    parser.add_argument("--json", type=Path, default=WORKDIR / "results.json")
    parser.add_argument("--kinds", nargs="+", choices=sorted(SCHEDULERS), default=list(SCHEDULERS))
    parser.add_argument("--child")
    parser.add_argument("--kind")
    parser.add_argument("--n", type=int)
    parser.add_argument("--broker", default="memory://")
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    measure(args.database, args.sizes, args.burst_broker, args.json, args.kinds)
    print(f"raw results: {args.json}")


if __name__ == "__main__":
    main()
