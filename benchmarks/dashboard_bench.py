"""The operations dashboard's render time at a million events and ten million occurrences.

    .venv/bin/python benchmarks/dashboard_bench.py \
        [--database-url postgres://postgres@127.0.0.1:5432/bench_dashboard] \
        [--events 1000000] [--occurrences 10000000] [--repeat 7] [--rebuild] [--docs]

PostgreSQL only: the rows are made by the server (``INSERT ... SELECT`` over
``generate_series``), ten million in a few minutes. The database is created
when missing and the bulk is kept between runs (``--rebuild`` makes it again):

- the bulk, made once: events that fired over the last four months
  (completed, a few failed, missed or cancelled) and scheduled ones 25 h to
  30 days ahead; their occurrences, one every 0.9 s over those months, 96 %
  succeeded, 2 % failed, 1 % skipped, 1 % missed, each sent within 0.3 s;
- the recent rows, made again on every run because they are relative to now:
  ``--recent`` occurrences over the last 24 h (a long tail of lag, a few still
  running), ``--upcoming`` scheduled events due in the next 24 h, a small due
  backlog (200 events up to 30 s late), a leader and a standby beat heartbeat.

Then ``VACUUM ANALYZE`` and the dashboard page through Django's test client
signed in as a superuser: one warm-up, then the median of ``--repeat``
renders, and the slowest SQL statement of one more. ``--docs`` writes the
figure into the "Operations dashboard" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Operations dashboard (dashboard_bench.py)"
# What the slowest statement is, found by a word of its SQL.
SLOWEST = {
    "DATE_TRUNC": "the timeline's: it reads the type of each\nof the next 24 h's events from the table",
    "percentile_cont": "the lag's percentiles",
    "COUNT": "a count",
}
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_dashboard"
# Event types with weights: reminders dominate, as in the appointment backend.
TYPES = "ARRAY['APPOINTMENT_REMINDER','APPOINTMENT_REMINDER','APPOINTMENT_REMINDER','APPOINTMENT_REMINDER','APPOINTMENT_FOLLOW_UP','APPOINTMENT_FOLLOW_UP','BUSINESS_RULE','REPORT_GENERATION','DATA_CLEANUP']"
# UUIDs from integers, one prefix per kind of row: the recent rows are found
# (and deleted) by range, and sequential keys keep the primary key's B-tree
# appends cheap.
BULK_EVENT, RECENT_EVENT, BULK_OCCURRENCE, RECENT_OCCURRENCE = (
    "00000000",
    "00000001",
    "00000002",
    "00000003",
)


def _uuid(prefix: str, n: str) -> str:
    return f"('{prefix}' || lpad(to_hex({n}), 24, '0'))::uuid"


def _create_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _sql(*statements: str, params: list[Any] | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)


def _tokens() -> dict[str, str]:
    """Valid ciphertexts for the encrypted columns: one token serves every row."""
    from scheduling import encryption

    error = (
        'Traceback (most recent call last):\n  File "handlers/reminders.py", line 40, in handle\n'
        "smtplib.SMTPServerDisconnected: Connection unexpectedly closed\n"
    )
    reason = "fired 15 minutes late, past the grace of 10 minutes"
    return {
        "payload": encryption.encrypt(json.dumps({"appointment_id": "bench"}).encode()),
        "error": encryption.encrypt(json.dumps(error).encode()),
        "reason": encryption.encrypt(json.dumps(reason).encode()),
    }


EVENT_COLUMNS = (
    "id, event_type, service_id, entity_id, scheduled_time, resource_timezone, user_timezone, "
    "execution_timezone, payload, recurrence, status, idempotency_key, next_run_at, fired_count, "
    "periodic_task_id, created_at, updated_at"
)
OCCURRENCE_COLUMNS = (
    "id, event_id, scheduled_for, status, task_id, attempts, claimed_at, sent_at, started_at, "
    "finished_at, lease_expires_at, republish_count, error, result"
)


def build_bulk(events: int, occurrences: int, bulk_events: int) -> None:
    tokens = _tokens()
    started = time.perf_counter()
    _sql("TRUNCATE scheduling_occurrence, scheduling_scheduledevent CASCADE")
    # 10 % of the bulk still scheduled 25 h to 30 days ahead, the rest fired.
    _sql(
        f"""
        INSERT INTO scheduling_scheduledevent ({EVENT_COLUMNS})
        SELECT {_uuid(BULK_EVENT, "n")}, ({TYPES})[1 + n %% 9], 'backend', 'bulk-' || n,
               now() - (n %% 10000000) * interval '1 second', 'America/New_York', 'Europe/London',
               'America/New_York', %s, NULL,
               CASE WHEN n %% 10 = 0 THEN 'scheduled' WHEN n %% 50 = 1 THEN 'failed'
                    WHEN n %% 50 = 3 THEN 'cancelled' ELSE 'completed' END,
               NULL,
               CASE WHEN n %% 10 = 0 THEN now() + interval '25 hours' + random() * interval '29 days' END,
               CASE WHEN n %% 10 = 0 THEN 0 ELSE 1 END, NULL, now(), now()
        FROM generate_series(1, {bulk_events}) AS n
        """,
        params=[tokens["payload"]],
    )
    print(f"  events: {time.perf_counter() - started:.0f} s", flush=True)
    # Occurrences of the fired events, one every 0.9 s going back from 25 h
    # ago; foreign keys unchecked while loading (every event_id exists).
    _sql("SET session_replication_role = replica")
    chunk = 1_000_000
    for first in range(1, occurrences + 1, chunk):
        last = min(occurrences, first + chunk - 1)
        _sql(
            f"""
            INSERT INTO scheduling_occurrence ({OCCURRENCE_COLUMNS})
            SELECT {_uuid(BULK_OCCURRENCE, "n")}, {_uuid(BULK_EVENT, f"1 + n %% {bulk_events}")}, s.at,
                   s.status, 'bulk-' || n, CASE WHEN s.status = 'failed' THEN 6 ELSE 1 END,
                   s.at, s.sent, s.sent + interval '50 ms',
                   CASE WHEN s.status = 'missed' THEN s.at + interval '15 minutes'
                        ELSE s.sent + interval '250 ms' END,
                   NULL, 0,
                   CASE s.status WHEN 'failed' THEN %s WHEN 'missed' THEN %s END, NULL
            FROM generate_series({first}, {last}) AS n,
            LATERAL (SELECT now() - interval '25 hours' - n * interval '900 ms' AS at,
                            CASE WHEN n %% 100 < 2 THEN 'failed' WHEN n %% 100 = 2 THEN 'skipped'
                                 WHEN n %% 100 = 3 THEN 'missed' ELSE 'succeeded' END AS status) AS b,
            LATERAL (SELECT b.at, b.status,
                            CASE WHEN b.status <> 'missed'
                                 THEN b.at + random() * interval '300 ms' END AS sent) AS s
            """,
            params=[tokens["error"], tokens["reason"]],
        )
        print(f"  occurrences to {last:,}: {time.perf_counter() - started:.0f} s", flush=True)
    _sql("SET session_replication_role = DEFAULT")
    # The started_at of a missed firing is NULL: it never ran.
    _sql("UPDATE scheduling_occurrence SET started_at = NULL WHERE status = 'missed'")


def build_recent(recent: int, upcoming: int, backlog: int, bulk_events: int) -> None:
    tokens = _tokens()
    _sql(
        f"DELETE FROM scheduling_occurrence WHERE id >= '{RECENT_OCCURRENCE}000000000000000000000000'::uuid",
        f"DELETE FROM scheduling_scheduledevent WHERE id >= '{RECENT_EVENT}000000000000000000000000'::uuid"
        f" AND id < '{BULK_OCCURRENCE}000000000000000000000000'::uuid",
        "DELETE FROM scheduling_beatheartbeat",
    )
    # The last day's firings, of bulk events: mostly sent within 0.3 s, a
    # tail of seconds (random() ^ 12), a few not finished yet.
    _sql(
        f"""
        INSERT INTO scheduling_occurrence ({OCCURRENCE_COLUMNS})
        SELECT {_uuid(RECENT_OCCURRENCE, "n")}, {_uuid(BULK_EVENT, f"1 + n %% {bulk_events}")}, s.at,
               s.status, 'recent-' || n, 1, s.at, s.sent, s.sent + interval '50 ms',
               CASE WHEN s.status IN ('running', 'sent') THEN NULL
                    WHEN s.status = 'missed' THEN s.at + interval '15 minutes'
                    ELSE s.sent + interval '250 ms' END,
               CASE WHEN s.status IN ('running', 'sent') THEN now() + interval '1 minute' END, 0,
               CASE s.status WHEN 'failed' THEN %s WHEN 'missed' THEN %s END, NULL
        FROM generate_series(1, {recent}) AS n,
        LATERAL (SELECT now() - n * interval '86400 s' / {recent} AS at,
                        CASE WHEN n <= 3 THEN 'running' WHEN n <= 5 THEN 'sent'
                             WHEN n %% 100 < 3 THEN 'failed' WHEN n %% 100 = 3 THEN 'skipped'
                             WHEN n %% 100 = 4 THEN 'missed' ELSE 'succeeded' END AS status) AS b,
        LATERAL (SELECT b.at, b.status,
                        CASE WHEN b.status <> 'missed' THEN b.at + interval '20 ms'
                             + random() * interval '250 ms' + power(random(), 12) * interval '8 s'
                        END AS sent) AS s
        """,
        params=[tokens["error"], tokens["reason"]],
    )
    _sql(
        "UPDATE scheduling_occurrence SET started_at = NULL WHERE task_id LIKE 'recent-%%' AND status = 'missed'"
    )
    # Upcoming: denser in working hours (sin of the hour), and a due backlog.
    _sql(
        f"""
        INSERT INTO scheduling_scheduledevent ({EVENT_COLUMNS})
        SELECT {_uuid(RECENT_EVENT, "n")}, ({TYPES})[1 + n %% 9], 'backend', 'recent-' || n,
               at, 'America/New_York', 'Europe/London', 'America/New_York', %s, NULL,
               'scheduled', NULL, at, 0, NULL, now(), now()
        FROM generate_series(1, {upcoming + backlog}) AS n,
        LATERAL (SELECT CASE WHEN n > {upcoming} THEN now() - random() * interval '30 s'
                        ELSE now() + interval '24 hours' * power(random(), 1.3) END AS at) AS t
        """,
        params=[tokens["payload"]],
    )
    _sql(
        """
        INSERT INTO scheduling_beatheartbeat (instance, started_at, last_tick_at, is_leader)
        VALUES ('beat-1.example:4101', now() - interval '3 days', now() - interval '1 s', true),
               ('beat-2.example:4102', now() - interval '3 days', now() - interval '3 s', false)
        """
    )


def _render_times(repeat: int) -> dict[str, Any]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    url = reverse("admin:scheduling_dashboard")

    def render() -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        return elapsed

    render()  # warm-up: templates, the connection, caches
    times = [render() for _ in range(repeat)]
    with CaptureQueriesContext(connection) as queries:
        render()
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "queries": len(queries.captured_queries),
        "slowest_query_ms": float(slowest["time"]) * 1000,
        "slowest_query": slowest["sql"][:200],
    }


def _counts() -> dict[str, int]:
    from scheduling.models import Occurrence, ScheduledEvent

    return {"events": ScheduledEvent.objects.count(), "occurrences": Occurrence.objects.count()}


def write_docs(result: dict[str, Any], args: argparse.Namespace) -> None:
    text = DOCS.read_text()
    built = ""
    if "build_seconds" in result:
        built = (
            f" Building the rows took {result['build_seconds'] / 60:.0f} min"
            " (server-side `INSERT ... SELECT generate_series`)."
        )
    slowest = next(
        (what for key, what in SLOWEST.items() if key in result["slowest_query"]), "another read"
    )
    section = f"""{SECTION}

The admin's operations dashboard (`/admin/scheduling/dashboard/`) on PostgreSQL 15 with
{result["events"]:,} events and {result["occurrences"]:,} occurrences: four months of history,
{args.recent:,} firings in the last 24 h, {args.upcoming:,} events due in the next 24 h, a
backlog of {args.backlog} due events, two beat heartbeats.

```sh
.venv/bin/python benchmarks/dashboard_bench.py --events {args.events} --occurrences {args.occurrences} --docs
```

| render (test client, signed in) | median of {args.repeat} | min | max | SQL statements | slowest statement |
|---|---|---|---|---|---|
| PostgreSQL, {result["events"]:,} events / {result["occurrences"]:,} occurrences | {result["median_ms"]:.0f} ms | {result["min_ms"]:.0f} ms | {result["max_ms"]:.0f} ms | {result["queries"]} | {result["slowest_query_ms"]:.0f} ms |

Every statement is bounded by an index: the backlog and the timeline by `event_due_idx`
(the timeline reads the next 24 h of it, the backlog counts at most 100,000 due rows), the
outcomes by `occurrence_finished_idx`, the latest failures by `occurrence_failed_idx`, the
firing lag by `occurrence_scheduled_for_idx` (the last day's firings only); the percentiles
are PostgreSQL's `percentile_cont`. The slowest statement is {slowest}.{built}
"""
    if SECTION in text:
        # Replace the section only, up to the next one of its level.
        head, _, rest = text.partition(SECTION)
        after = rest.find("\n## ")
        text = head + section + (rest[after:] if after >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--occurrences", type=int, default=10_000_000)
    parser.add_argument("--recent", type=int, default=5_000)
    parser.add_argument("--upcoming", type=int, default=50_000)
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("PostgreSQL only (the rows are made with generate_series)")
    _create_database(args.database_url)
    _django(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bulk_events = args.events - args.upcoming - args.backlog
    result: dict[str, Any] = {}
    expected = args.occurrences - args.recent
    if args.rebuild or _bulk_occurrences() != expected:
        print(f"building {bulk_events:,} events and {expected:,} occurrences", flush=True)
        started = time.perf_counter()
        build_bulk(args.events, expected, bulk_events)
        result["build_seconds"] = time.perf_counter() - started
    build_recent(args.recent, args.upcoming, args.backlog, bulk_events)
    _sql("VACUUM ANALYZE scheduling_occurrence", "VACUUM ANALYZE scheduling_scheduledevent")
    result.update(_counts())
    print(f"rows: {result}", flush=True)
    if args.build_only:
        return
    result.update(_render_times(args.repeat))
    print(result, flush=True)
    if args.docs:
        write_docs(result, args)


def _bulk_occurrences() -> int:
    from scheduling.models import Occurrence

    # A range of the primary key: the bulk's ids share a prefix.
    return Occurrence.objects.filter(
        id__gte=f"{BULK_OCCURRENCE}000000000000000000000000",
        id__lt=f"{RECENT_OCCURRENCE}000000000000000000000000",
    ).count()


if __name__ == "__main__":
    main()
