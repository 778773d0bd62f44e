"""Idle tick and live-insert latency of EventScheduler on PostgreSQL, at 1M events.

    .venv/bin/python benchmarks/notify_bench.py prepare [--root TREE] [--n 1000000]
    .venv/bin/python benchmarks/notify_bench.py migrate [--root TREE]
    .venv/bin/python benchmarks/notify_bench.py measure [--root TREE] [--inserts 250] [--lock]
    .venv/bin/python benchmarks/notify_bench.py trigger-cost

``--root`` is the checkout whose code runs (default: this one), so that the
same data can be measured with the code before and after a change: prepare
and measure with the old tree, then migrate and measure with the new one.

- prepare: a fresh database ``bench_notify`` migrated by ``--root``, and N
  scheduled one-offs over the next 30 days written with one
  ``INSERT … SELECT generate_series`` (not through the API: a million rows
  through it take a quarter of an hour);
- idle tick: 200 ticks with nothing due and nothing changed, after a first
  one; the tick's work only (``tick_once`` where it exists: ``tick`` also
  spends the wait for the next on the listening socket);
- live latency: celery beat's own loop in a thread while another process
  inserts events due now through ``schedule_event``, 50-150 ms apart; from
  the insert's commit (``schedule_event`` returned) until the publish;
- trigger-cost: a 10,000-row ``INSERT … SELECT`` and an UPDATE of those rows,
  with migration 0013's triggers and without (each in a rolled-back
  transaction).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
DB = "bench_notify"
URL = f"postgres://postgres@127.0.0.1:5432/{DB}"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

FILL = """
INSERT INTO scheduling_scheduledevent (
    id, event_type, service_id, entity_id, scheduled_time, resource_timezone,
    user_timezone, execution_timezone, payload, recurrence, status, idempotency_key,
    next_run_at, fired_count, paused_at, misfire_grace_seconds, catch_up,
    jitter_seconds, overlap, periodic_task_id, created_at, updated_at)
SELECT gen_random_uuid(), 'DATA_CLEANUP', 'backend', {entity}, t, 'UTC', 'UTC', 'UTC',
    %(payload)s, NULL, 'scheduled', NULL, t, 0, NULL, NULL, '', NULL, '', NULL, now(), now()
FROM (SELECT i, now() + interval '1 hour' + (i %% 2592000) * interval '1 second' AS t
      FROM generate_series(1, %(n)s) AS i) AS s
"""


def _env(root: Path, lock: bool = False) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": URL,
        "VAR_DIR": os.environ.get("VAR_DIR", "/tmp/var-notify-bench"),
        "SCHEDULING_BEAT_LOCK": "1" if lock else "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(root),
    }


def _pg(*statements: str, dbname: str = "postgres") -> None:
    import psycopg

    url = ADMIN if dbname == "postgres" else URL.replace("postgres://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _manage(root: Path, *argv: str) -> None:
    subprocess.run(
        [sys.executable, str(root / "manage.py"), *argv], env=_env(root), check=True, cwd=root
    )


def prepare(root: Path, n: int) -> None:
    import psycopg

    _pg(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", f"CREATE DATABASE {DB}")
    _manage(root, "migrate", "--verbosity", "0")
    payload = _encrypted_empty_payload(root)
    started = time.perf_counter()
    with psycopg.connect(URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(FILL.format(entity="'bulk-' || i"), {"payload": payload, "n": n})
        conn.execute("VACUUM ANALYZE scheduling_scheduledevent")
    print(f"{n} events in {time.perf_counter() - started:.1f} s")


def _encrypted_empty_payload(root: Path) -> str:
    code = (
        "import django; django.setup();"
        "from scheduling.models import ScheduledEvent;"
        "f = ScheduledEvent._meta.get_field('payload');"
        "print(f.get_prep_value({'days_to_keep': 90}))"
    )
    env = _env(root) | {"DJANGO_SETTINGS_MODULE": "project.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def measure(root: Path, inserts: int, lock: bool) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "child", "--inserts", str(inserts)],
        env=_env(root, lock) | {"DJANGO_SETTINGS_MODULE": "project.settings"},
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise SystemExit(done.stderr[-2000:])


# --- The child: Django set up on bench_notify, with --root's code --------------------


def _app() -> Any:
    from celery import Celery

    app = Celery("bench", set_as_current=True)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "memory://"
    app.conf.broker_transport_options = {}
    return app


def _idle_ticks(app: Any) -> dict[str, Any]:
    from scheduling.beat import EventScheduler

    scheduler = EventScheduler(app=app)
    work = getattr(scheduler, "tick_once", scheduler.tick)
    work()
    times = []
    for _ in range(200):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    scheduler.close()
    return {
        "idle_tick_mean_ms": statistics.mean(times),
        "idle_tick_p50_ms": statistics.median(times),
        "idle_tick_p99_ms": sorted(times)[int(len(times) * 0.99) - 1],
    }


def _live(app: Any, inserts: int) -> dict[str, Any]:
    """Beat in a thread here; the inserts from a process of their own, as in production."""
    from celery.beat import Service
    from celery.signals import after_task_publish

    from scheduling.beat import EventScheduler

    sent: dict[str, float] = {}

    def record(body: Any, **_: Any) -> None:
        sent.setdefault(str(body[1].get("event_id")), time.time())

    after_task_publish.connect(record, weak=False)
    service = Service(app=app, scheduler_cls=EventScheduler)
    threading.Thread(target=service.start, daemon=True).start()
    time.sleep(2)
    done = subprocess.run(
        [sys.executable, __file__, "inserter", "--inserts", str(inserts)],
        capture_output=True,
        text=True,
        check=True,
    )
    inserted = json.loads(done.stdout.splitlines()[-1])
    time.sleep(6)
    service.stop()
    committed: dict[str, float] = inserted["committed"]
    late = sorted((sent[k] - t) * 1000 for k, t in committed.items() if k in sent)
    return {
        "inserted": inserts,
        "sent": len(late),
        "live_p50_ms": statistics.median(late),
        "live_p99_ms": late[int(len(late) * 0.99) - 1],
        "live_max_ms": late[-1],
        "insert_p50_ms": inserted["insert_p50_ms"],
    }


def inserter(inserts: int) -> None:
    """Insert events due now, 50-150 ms apart; print when each insert had committed."""
    import django

    django.setup()
    from django.utils import timezone

    from scheduling import schedule_event

    rng = random.Random(13)
    committed: dict[str, float] = {}
    insert_ms = []
    for i in range(inserts):
        time.sleep(rng.uniform(0.05, 0.15))
        started = time.perf_counter()
        event = schedule_event(
            event_type="DATA_CLEANUP",
            entity_id=f"live-{i}-{time.time_ns()}",
            scheduled_time=timezone.now(),
            resource_timezone="UTC",
            user_timezone="UTC",
            payload={"days_to_keep": 90},
        )
        committed[str(event.id)] = time.time()
        insert_ms.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"committed": committed, "insert_p50_ms": statistics.median(insert_ms)}))


def child(inserts: int) -> None:
    import django

    django.setup()
    app = _app()
    result = _idle_ticks(app) | _live(app, inserts)
    print("RESULT " + json.dumps(result))


def trigger_cost() -> dict[str, Any]:
    import psycopg

    result: dict[str, Any] = {}
    with psycopg.connect(URL.replace("postgres://", "postgresql://")) as conn:
        payload = conn.execute("SELECT payload FROM scheduling_scheduledevent LIMIT 1").fetchone()
        assert payload is not None
        for triggers in ("on", "off"):
            runs = []
            for _ in range(5):
                if triggers == "off":
                    conn.execute("ALTER TABLE scheduling_scheduledevent DISABLE TRIGGER USER")
                started = time.perf_counter()
                entity = "'cost-' || i || '-' || random()"
                conn.execute(FILL.format(entity=entity), {"payload": payload[0], "n": 10_000})
                inserted = time.perf_counter()
                conn.execute(
                    "UPDATE scheduling_scheduledevent SET next_run_at = next_run_at"
                    " - interval '1 minute' WHERE entity_id LIKE 'cost-%%'"
                )
                runs.append((inserted - started, time.perf_counter() - inserted))
                conn.rollback()
            result[triggers] = {
                "insert_10k_ms": statistics.median(r[0] for r in runs) * 1000,
                "update_10k_ms": statistics.median(r[1] for r in runs) * 1000,
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "what",
        choices=["prepare", "migrate", "measure", "trigger-cost", "child", "inserter"],
    )
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--inserts", type=int, default=250)
    parser.add_argument("--lock", action="store_true", help="with the beat lock (advisory)")
    args = parser.parse_args()
    if args.what == "prepare":
        prepare(args.root.resolve(), args.n)
    elif args.what == "migrate":
        _manage(args.root.resolve(), "migrate", "--verbosity", "0")
    elif args.what == "measure":
        print(json.dumps(measure(args.root.resolve(), args.inserts, args.lock)))
    elif args.what == "trigger-cost":
        print(json.dumps(trigger_cost()))
    elif args.what == "inserter":
        inserter(args.inserts)
    else:
        child(args.inserts)


if __name__ == "__main__":
    main()
