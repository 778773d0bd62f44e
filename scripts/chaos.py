"""Chaos run: 2 beats + 2 workers on PostgreSQL + Redis, SIGKILLed at random, restarted.

    .venv/bin/python scripts/chaos.py [--events 3000] [--window 120] [--kill-every 4]

Books ``--events`` appointments, one participant each, whose 15-minute reminders
fall over the next ``--window`` seconds; runs two ``celery beat`` and two
``celery worker`` processes (as the Procfile runs them) and every few seconds
kills one of them with SIGKILL and starts it again. Then it waits for every
reminder to settle and checks, from the database and the mail files:

- every reminder fired: one occurrence each, none missed, failed or pending;
- its effect happened exactly once: one notification row and one distinct
  e-mail (Message-ID) per reminder. Deliveries are counted too: a worker
  killed between sending an e-mail and recording it delivers that message
  again, under the same Message-ID (at-least-once delivery; see
  docs/architecture.md);
- latency: publish time and completion time minus the due time (p50, p99, max).

Exit status 0 when all hold. Needs PostgreSQL and Redis (TEST_POSTGRES_URL's
server, database ``chaos``; TEST_REDIS_URL's server, database 12).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_SERVER = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = PG_SERVER.rsplit("/", 1)[0] + "/chaos"
BROKER_URL = REDIS_SERVER.rsplit("/", 1)[0] + "/12"
WORKER = ["worker", "-Q", "backend-events,celery", "--concurrency=2", "--loglevel=WARNING"]
BEAT = ["beat", "--loglevel=WARNING", "--pidfile="]


def _env(workdir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "CELERY_BROKER_URL": BROKER_URL,
        # A killed worker's unacknowledged task comes back after this long.
        "CELERY_VISIBILITY_TIMEOUT": "15",
        "CELERY_UNACKED_RESTORE_INTERVAL": "5",
        # A message the broker lost is published again after this long.
        "SCHEDULING_SENT_REPUBLISH_SECONDS": "30",
        "VAR_DIR": str(workdir / "var"),
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(workdir / "mail"),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "PYTHONPATH": str(ROOT),
    }


def _reset_stores() -> None:
    import psycopg
    import redis

    admin = PG_SERVER.replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS chaos WITH (FORCE)")
        conn.execute("CREATE DATABASE chaos")
    redis.Redis.from_url(BROKER_URL).flushdb()


class Fleet:
    """The four processes, each restartable under its name."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = _env(workdir)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills = 0

    def start(self, name: str) -> None:
        args = BEAT if name.startswith("beat") else WORKER
        if name.startswith("worker"):
            args = [*args, f"--hostname={name}@%h"]
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_one(self, rng: random.Random) -> str:
        name = rng.choice(sorted(self.procs))
        # The whole process group: a prefork worker's children die with it.
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()
        self.kills += 1
        self.start(name)
        return name

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _book(events: int, window: float) -> float:
    """Book the appointments; return the instant (epoch) of the last reminder."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from handlers.services.appointments import book_appointment

    now = timezone.now()
    # Booking takes about 10 ms an appointment: the first reminder falls after.
    first = now + timedelta(seconds=15 + events / 100)
    for i in range(events):
        user = User.objects.create_user(f"u{i}", f"u{i}@example.com")
        reminder_at = first + timedelta(seconds=window * i / events)
        start = reminder_at + timedelta(minutes=15)
        book_appointment(
            title=f"Chaos {i}",
            resource=f"room-{i % 7}",
            start_time=start,
            end_time=start + timedelta(minutes=30),
            resource_timezone="Europe/Paris",
            user_timezone="America/New_York",
            participants=[user],
        )
    return (first + timedelta(seconds=window)).timestamp()


def _settled(events: int) -> bool:
    from scheduling.models import FINAL_OCCURRENCE_STATUSES, Occurrence

    done = Occurrence.objects.filter(
        event__event_type="APPOINTMENT_REMINDER", status__in=FINAL_OCCURRENCE_STATUSES
    ).count()
    return done >= events


def _percentiles(values: list[float]) -> dict[str, float | None]:
    values = sorted(values)
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(values[len(values) // 2], 3),
        "p99": round(values[max(0, int(len(values) * 0.99) - 1)], 3),
        "max": round(values[-1], 3),
    }


def _verdict(events: int, mail_dir: Path) -> dict[str, Any]:
    from collections import Counter

    from django.db.models import Count

    from handlers.models import Notification
    from scheduling.models import Occurrence, ScheduledEvent

    reminders = ScheduledEvent.objects.filter(event_type="APPOINTMENT_REMINDER")
    occurrences = Occurrence.objects.filter(event__in=reminders)
    mails = [
        dict(
            line.split(": ", 1)
            for line in message.splitlines()
            if line.startswith(("To: ", "Message-ID: "))
        )
        for path in (mail_dir.iterdir() if mail_dir.exists() else [])
        for message in path.read_text(errors="replace").split("-" * 79)
        if "Message-ID: " in message
    ]
    recipients = Counter(m["To"] for m in mails)
    distinct = {m["Message-ID"] for m in mails}
    sent = [(o.sent_at - o.scheduled_for).total_seconds() for o in occurrences if o.sent_at]
    finished = [
        (o.finished_at - o.scheduled_for).total_seconds() for o in occurrences if o.finished_at
    ]
    return {
        "reminders": reminders.count(),
        "occurrences": occurrences.count(),
        "by_status": dict(Counter(occurrences.values_list("status", flat=True))),
        "events_with_two_occurrences": reminders.annotate(n=Count("occurrences"))
        .filter(n__gt=1)
        .count(),
        "notifications": Notification.objects.count(),
        # Deliveries, and distinct messages: a worker killed between sending
        # and recording repeats an e-mail under the same Message-ID.
        "emails_delivered": sum(recipients.values()),
        "emails_distinct": len(distinct),
        "recipients_mailed_twice": sum(1 for n in recipients.values() if n > 1),
        "handler_runs_beyond_one": sum(
            max(0, a - 1) for a in occurrences.values_list("attempts", flat=True)
        ),
        "publish_latency_s": _percentiles(sent),
        "completion_latency_s": _percentiles(finished),
    }


def _ok(result: dict[str, Any], events: int) -> bool:
    return (
        result["reminders"] == events
        and result["occurrences"] == events
        and result["by_status"] == {"succeeded": events}
        and result["notifications"] == events
        and result["emails_distinct"] == events
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "chaos")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    for stale in args.workdir.glob("*.log"):
        stale.unlink()
    _reset_stores()
    os.environ.update(_env(args.workdir))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    last_due = _book(args.events, args.window)
    fleet = Fleet(args.workdir)
    for name in ("beat-1", "beat-2", "worker-1", "worker-2"):
        fleet.start(name)
    rng = random.Random(args.seed)
    try:
        while time.time() < last_due + 5:
            time.sleep(args.kill_every)
            print(f"killed {fleet.kill_one(rng)}", flush=True)
        deadline = time.time() + args.settle_timeout
        while time.time() < deadline and not _settled(args.events):
            time.sleep(1)
    finally:
        fleet.stop()
    result = _verdict(args.events, args.workdir / "mail") | {"kills": fleet.kills}
    print(json.dumps(result, indent=2))
    ok = _ok(result, args.events)
    print("CHAOS OK" if ok else "CHAOS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
