"""What a bulk call writes to PostgreSQL's WAL, and how long it takes, right after a checkpoint.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB .venv/bin/python benchmarks/wal_probe.py \\
        [--rounds 3] [--events 10000] [--batch 5000]

On a migrated database (an empty one, or a copy of a ``beat_bench.py`` snapshot:
``CREATE DATABASE probe TEMPLATE beat_bench_1000000_pristine``), runs ``CHECKPOINT``, then
``--rounds`` rounds of ``--events`` one-offs 40 days ahead through ``schedule_events``, in
calls of ``--batch``, and prints each round's seconds, rate and WAL bytes
(``pg_current_wal_lsn()`` before and after). The first change of each page after a
checkpoint is written whole to the WAL: on a large table the first round touches pages
spread over big indexes. Writes its events for good: use a copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("VAR_DIR", "/tmp/wal-probe")
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from scheduling import schedule_events

    def wal_position() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            return str(cursor.fetchone()[0])

    def wal_bytes(start: str, end: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_wal_lsn_diff(%s, %s)", [end, start])
            return int(cursor.fetchone()[0])

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    first = timezone.now() + timedelta(days=40)
    run = int(time.time())
    for round_ in range(args.rounds):
        events = [
            {
                "event_type": "APPOINTMENT_REMINDER",
                "entity_id": f"wal-probe-{run}-{round_}-{i}",
                "scheduled_time": first + timedelta(seconds=round_ * args.events + i),
                "resource_timezone": "UTC",
                "user_timezone": "UTC",
                "payload": {"appointment_id": f"a{i}", "reminder_type": "24_hour_reminder"},
            }
            for i in range(args.events)
        ]
        start, started = wal_position(), time.perf_counter()
        for offset in range(0, len(events), args.batch):
            schedule_events(events[offset : offset + args.batch])
        seconds = time.perf_counter() - started
        written = wal_bytes(start, wal_position())
        print(
            f"round {round_ + 1}: {seconds:.2f} s ({args.events / seconds:,.0f} events/s),"
            f" WAL {written / 1e6:,.0f} MB"
        )


if __name__ == "__main__":
    main()
