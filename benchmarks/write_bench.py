"""The write path: how fast events are scheduled, in bulk and one at a time.

    .venv/bin/python benchmarks/write_bench.py [--database sqlite|postgres] [--runs 3]
        [--events 10000] [--singles 500] [--json /tmp/write-bench.json] [--profile]

Each run is a child process on a fresh database (migrated, then measured):

- bulk: ``schedule_events`` with EVENTS events in one call, and again in calls of
  500 (the HTTP API's limit per request); events per second, wall clock;
- HTTP bulk: ``POST /api/events/bulk`` with 500 events a request through Django's
  test client (no server, no sockets: the view, its authentication and the write);
- single: ``schedule_event`` SINGLES times, one event a call, each its own
  transaction; the median and p90 latency, and the statements one call sends.

The events are a mix like a day of bookings: 80 % one-offs at random instants over
the next 30 days, 20 % recurring on one of 20 patterns (daily, weekly, monthly or every
other day, at one of four local times, in five zones); every payload is about 300 bytes
of JSON. Everything goes through the public API: validation, payload encryption, beat
rows, audit entries. The figures are medians over the runs. ``--profile`` prints a
pyinstrument profile of one bulk call instead (``pip install -r
benchmarks/requirements.txt``; ``PROFILE_ALL=1`` shows library frames too). On
PostgreSQL the single figures also include the p50 with ``synchronous_commit`` off for
the session: a diagnostic of what the commit's flush costs, never a setting to use.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path(os.environ.get("BENCH_DIR", "/tmp/write-bench"))
POSTGRES = "postgres://postgres@127.0.0.1:5432/{name}"
ZONES = ["America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Sydney", "UTC"]
PG_NAME = os.environ.get("BENCH_PG_DB", "bench_bulk")
HTTP_BATCH = 500
CHILD_TIMEOUT = 900


# --- Child side --------------------------------------------------------------------


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


def _patterns() -> list[tuple[str, int, dict[str, Any]]]:
    """20 (zone, local hour, recurrence) patterns; each is one CrontabSchedule row."""
    # Days named: a weekly or monthly rule's crontab otherwise takes the day of
    # its first date, and the random dates would make hundreds of patterns.
    frequencies: list[dict[str, Any]] = [
        {"frequency": "DAILY"},
        {"frequency": "WEEKLY", "by_weekday": ["MO"]},
        {"frequency": "MONTHLY", "by_month_day": [1]},
        {"frequency": "DAILY", "interval": 2},
    ]
    return [(zone, 8 + i, freq) for i, freq in enumerate(frequencies) for zone in ZONES]


def make_events(n: int, *, seed: int, prefix: str) -> list[dict[str, Any]]:
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    rng = random.Random(seed)
    now = timezone.now()
    patterns = _patterns()
    events = []
    for i in range(n):
        zone = rng.choice(ZONES)
        recurrence = None
        when = now + timedelta(seconds=rng.randint(3600, 30 * 86400))
        if rng.random() < 0.2:
            zone, hour, recurrence = rng.choice(patterns)
            local = (when.astimezone(ZoneInfo(zone))).replace(hour=hour, minute=0, second=0)
            when = local + timedelta(days=1)
        events.append(
            {
                "event_type": "APPOINTMENT_REMINDER",
                "entity_id": f"{prefix}-{i}",
                "scheduled_time": when,
                "resource_timezone": zone,
                "user_timezone": rng.choice(ZONES),
                "payload": _payload(rng, i),
                "recurrence": recurrence,
            }
        )
    return events


def _payload(rng: random.Random, i: int) -> dict[str, Any]:
    # About 300 bytes as compact JSON, like a reminder's appointment details.
    return {
        "appointment_id": f"appt-{i}",
        "reminder_type": "24_hour_reminder",
        "patient": {"name": f"Patient {rng.randint(1, 10**6)}", "phone": "+1-555-0100"},
        "location": "Clinic 4, 1200 Example Avenue, Suite 310, Springfield",
        "notes": "x" * rng.randint(100, 130),
    }


def _rate(fn: Any, n: int) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def child_bulk(n: int) -> dict[str, Any]:
    from scheduling import schedule_events

    one_call = make_events(n, seed=1, prefix="one")
    batched = make_events(n, seed=2, prefix="batched")
    result = {"bulk_one_call_per_s": _rate(lambda: schedule_events(one_call), n)}

    def in_batches() -> None:
        for start in range(0, n, HTTP_BATCH):
            schedule_events(batched[start : start + HTTP_BATCH])

    result["bulk_500_per_s"] = _rate(in_batches, n)
    return result


def child_http(n: int) -> dict[str, Any]:
    from django.conf import settings
    from django.test import Client

    from scheduling.services.api_keys import create_api_key

    settings.SCHEDULING_API_RATE_LIMIT = 10**9
    settings.ALLOWED_HOSTS = ["testserver"]
    _key, secret = create_api_key(service_id="backend", name="bench")
    client = Client(headers={"X-Service-Name": "backend", "X-API-Key": secret})
    events = make_events(n, seed=3, prefix="http")
    bodies = []
    for start in range(0, n, HTTP_BATCH):
        items = [
            {**e, "scheduled_time": e["scheduled_time"].isoformat()}
            for e in events[start : start + HTTP_BATCH]
        ]
        bodies.append(json.dumps({"events": [_http_item(item) for item in items]}))

    def send() -> None:
        for body in bodies:
            answer = client.post("/api/events/bulk", body, content_type="application/json")
            assert answer.status_code == 201, answer.content[:300]

    return {"http_bulk_per_s": _rate(send, n)}


def _http_item(item: dict[str, Any]) -> dict[str, Any]:
    body = {
        "type": item["event_type"],
        "entity_id": item["entity_id"],
        "scheduled_time": item["scheduled_time"],
        "timezone_context": {
            "resource_timezone": item["resource_timezone"],
            "user_timezone": item["user_timezone"],
        },
        "payload": item["payload"],
    }
    if item["recurrence"] is not None:
        body["recurrence"] = item["recurrence"]
    return body


def child_single(n: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from scheduling import schedule_event

    events = make_events(2 * n + 10, seed=4, prefix="single")
    one_offs = [e for e in events if e["recurrence"] is None][: n + 2]
    for event in one_offs[:2]:  # warm-up: connection, caches
        schedule_event(**event)
    latencies = []
    for event in one_offs[2:]:
        started = time.perf_counter()
        schedule_event(**event)
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    result = {
        "single_p50_ms": statistics.median(latencies),
        "single_p90_ms": latencies[int(len(latencies) * 0.9)],
        "single_count": len(latencies),
    }
    if connection.vendor == "postgresql":
        result["single_p50_ms_no_flush"] = _without_commit_flush(one_offs[2:])
    queries = {}
    for name, extra in (("no_key", {}), ("with_key", {"idempotency_key": "bench-key"})):
        event = {**make_events(1, seed=5, prefix=f"count-{name}")[0], "recurrence": None}
        with CaptureQueriesContext(connection) as captured:
            schedule_event(**event, **extra)
        queries[name] = [q["sql"][:90] for q in captured.captured_queries]
    return {**result, "single_queries": queries}


def _without_commit_flush(events: list[dict[str, Any]]) -> float:
    """The single p50 again, with COMMIT not waiting for the WAL to reach the disk.

    A diagnostic only (what the round trips and Python cost without the
    flush), on new entities: never a setting the project uses.
    """
    from django.db import connection

    from scheduling import schedule_event

    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    latencies = []
    for event in events:
        event = {**event, "entity_id": event["entity_id"] + "-async"}
        started = time.perf_counter()
        schedule_event(**event)
        latencies.append((time.perf_counter() - started) * 1000)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    return statistics.median(latencies)


def child_profile(n: int) -> None:
    from pyinstrument import Profiler

    from scheduling import schedule_events

    events = make_events(n, seed=1, prefix="profile")
    profiler = Profiler(interval=0.0005)
    with profiler:
        schedule_events(events)
    print(profiler.output_text(unicode=True, show_all=bool(os.environ.get("PROFILE_ALL"))))


def child_main(args: argparse.Namespace) -> None:
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.child == "profile":
        child_profile(args.events)
        return
    result = {
        **child_bulk(args.events),
        **child_http(args.events),
        **child_single(args.singles),
    }
    print("RESULT " + json.dumps(result))


# --- Parent side -------------------------------------------------------------------


def _fresh(database: str) -> str:
    WORKDIR.mkdir(parents=True, exist_ok=True)
    if database == "postgres":
        import psycopg

        with psycopg.connect(POSTGRES.format(name="postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_NAME}")
        return POSTGRES.format(name=PG_NAME)
    path = WORKDIR / "write.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def run_child(database: str, argv: list[str], capture: bool = True) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": _fresh(database),
        "VAR_DIR": str(WORKDIR / "var"),
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, __file__, *argv],
        env=env,
        capture_output=capture,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if not capture:
        return {}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[7:]))
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:] or ["no output"]
    return {"error": " | ".join(tail)[:400]}


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [run for run in runs if "error" not in run]
    numbers = [k for k, v in (good[0] if good else {}).items() if isinstance(v, int | float)]
    return {k: statistics.median(run[k] for run in good) for k in numbers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    common = ["--events", str(args.events), "--singles", str(args.singles)]
    if args.profile:
        run_child(args.database, ["--child", "profile", *common], capture=False)
        return
    runs = []
    for number in range(1, args.runs + 1):
        runs.append(run_child(args.database, ["--child", "measure", *common]))
        print(f"run {number}:", json.dumps(runs[-1]), flush=True)
    result = {"database": args.database, "runs": runs, "median": summary(runs)}
    print("median:", json.dumps(result["median"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
