"""A burst's claim and publish loop alone, in one process: where beat's time goes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/burst_dev \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/4 \\
        .venv/bin/python benchmarks/burst_inprocess.py [--events 10000] [--in-turn]
        [--batch 500] [--profile]

Migrates the database, writes ``--events`` one-offs through ``schedule_events``, moves
them all to one instant a second ago, vacuums the database, empties the broker's database, then runs what
beat's ``_dispatch_due`` runs on PostgreSQL: claim a batch, hand it to a thread that
publishes it while the next is claimed (``scheduling.publish_behind``), until none is
left (with ``--in-turn``, each batch is published before the next is claimed, as beat
does on SQLite), and waits until every message is in the ``backend-events`` list; then
deletes the beat rows the claims after the first left to archive, as beat does after a
burst (``FiredBeatRows``). Prints the seconds spent claiming, publishing, in all (until
the last message is in Redis), the CPU time the process spent meanwhile (its threads
share one interpreter: on two cores, with the server on the other, that is the floor),
and archiving after.
No beat loop, no wake-up, no other events in the table: the floor of beat's own part of
``beat_bench.py``'s burst. The broker's database is flushed: give it one of its own.
``--profile`` shows the claiming thread only; both threads, for speedscope.app:
``py-spy record -f speedscope -o burst.json -- .venv/bin/python benchmarks/burst_inprocess.py``
(with the environment above; ``pip install -r benchmarks/requirements.txt``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--in-turn", action="store_true")
    parser.add_argument("--profile", action="store_true", help="pyinstrument, to stdout")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("VAR_DIR", "/tmp/burst-inprocess")
    import django

    django.setup()
    import redis
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from project.celery import app
    from scheduling import schedule_events
    from scheduling.models import ScheduledEvent
    from scheduling.publish_behind import PublishBehind
    from scheduling.services import occurrences
    from scheduling.services.publishing import publish

    call_command("migrate", verbosity=0)
    ScheduledEvent.objects.filter(entity_id__startswith="burst-").delete()
    when = timezone.now() - timedelta(seconds=1)
    schedule_events(
        [
            {
                "event_type": "DATA_CLEANUP",
                "entity_id": f"burst-{i}",
                "scheduled_time": when + timedelta(hours=1),
                "resource_timezone": "UTC",
                "user_timezone": "UTC",
                "payload": {"days_to_keep": 1},
            }
            for i in range(args.events)
        ]
    )
    ScheduledEvent.objects.filter(entity_id__startswith="burst-").update(next_run_at=when)
    if connection.vendor == "postgresql":
        # A run leaves dead rows behind (and autovacuum may be off): later runs
        # would read past them.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
            # Every run from the start of a checkpoint (its first write of each
            # page is a full page in the WAL): a checkpoint partway through one
            # run and not another made them differ by a third.
            cursor.execute("CHECKPOINT")
    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    broker.flushdb()
    spent = {"claim": 0.0, "publish": 0.0, "archive": 0.0}
    now = timezone.now()

    def timed_publish(batch: list[occurrences.Dispatch], producer: object) -> None:
        started = time.perf_counter()
        publish(batch, app=app, producer=producer)  # type: ignore[arg-type]
        spent["publish"] += time.perf_counter() - started

    def claim(*, archive_later: bool) -> list[occurrences.Dispatch]:
        started = time.perf_counter()
        batch = occurrences.claim_due_occurrences(
            now=now, limit=args.batch, archive_later=archive_later
        )
        spent["claim"] += time.perf_counter() - started
        return batch

    def claim_all(publish: Callable[[list[occurrences.Dispatch]], None], *, behind: bool) -> int:
        """What beat's _dispatch_due does with ``publish``: how many were claimed.

        Behind: the claims after the first leave their beat rows to archive later.
        """
        claimed = 0
        while True:
            batch = claim(archive_later=behind and claimed > 0)
            claimed += len(batch)
            publish(batch)
            if len(batch) < args.batch:
                return claimed

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler()
        profiler.start()
    with app.producer_or_acquire() as producer:
        started = time.perf_counter()
        cpu_started = time.process_time()
        if args.in_turn:
            total = claim_all(lambda batch: timed_publish(batch, producer), behind=False)
        else:
            with PublishBehind(lambda batch: timed_publish(batch, producer)) as behind:
                total = claim_all(behind.put, behind=True)
        while sum(broker.llen(k) for k in broker.scan_iter(match="backend-events*")) < total:
            time.sleep(0.001)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        started = time.perf_counter()
        occurrences.archive_fired_beat_rows()
        spent["archive"] = time.perf_counter() - started
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))
    mode = "in turn" if args.in_turn else "published behind the claims, as beat does"
    print(
        f"{total} events, {mode}: claim {spent['claim']:.2f} s, publish {spent['publish']:.2f} s,"
        f" all in the broker after {wall:.2f} s (the process's CPU: {cpu:.2f} s, both threads);"
        f" beat rows archived {spent['archive']:.2f} s after"
    )


if __name__ == "__main__":
    main()
