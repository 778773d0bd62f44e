"""Chaos run: 2 beats + 2 workers, faults injected while reminders fire, exactly-once check.

    .venv/bin/python scripts/chaos.py [--database postgres|sqlite]
        [--broker redis|rabbitmq|filesystem] [--fault KIND ...] [--backlog N]
        [--events 3000] [--window 120] [--kill-every 4] [--beat-batch N] [--seed 1]

Books ``--events`` appointments, one participant each, whose 15-minute
reminders fall over the next ``--window`` seconds (stretched to cover the
faults), plus ``--backlog`` more whose reminders all fall due at one
instant after them. Runs two ``celery beat`` and two ``celery worker``
processes as the Procfile runs them, kills one at random with SIGKILL every
``--kill-every`` seconds (0: never) until the backlog falls due, and injects
each ``--fault`` in turn, ``--gap`` seconds apart (``scripts/chaos_faults.py``:
broker-kill, db-refuse, db-blackhole, worker-kill; ``all``: every one the
stack allows). The stores are the run's own (``scripts/chaos_stack.py``).
Then it waits for every reminder to settle and reports, as JSON:

- lost: reminders without exactly one occurrence in a final state, and
  occurrences left unfinished (stuck);
- duplicate effects: notification rows beyond one per reminder, distinct
  e-mails (Message-IDs) beyond one per recipient. Repeated deliveries of the
  same Message-ID are counted apart: a worker killed between sending an
  e-mail and recording it sends it again (at-least-once; docs/architecture.md);
- republishes: the occurrences' ``republish_count`` and beat's "published
  again" log lines, for the backlog apart (its messages only waited in the
  queue: beat must not have published them again);
- recovery per fault: from its end until the first reminder due after it
  finished (``first_after_s``) and until every reminder due before its end
  finished (``caught_up_s``); for the backlog, until it drained;
- missed: reminders recorded as missed past their grace (10 minutes);
- processes that exited by themselves (there must be none, but for a known
  crash of a library, named in the report: ``KNOWN_CRASHES``).

Exit status 0 when nothing is lost, doubled, stuck, failed or duplicated and
no process died by itself. The processes' settings differ from the defaults
to make recovery fit a short run: SCHEDULING_SENT_REPUBLISH_SECONDS
(``--sent-republish``, 30), SCHEDULING_OCCURRENCE_LEASE_SECONDS (``--lease``,
15), CELERY_VISIBILITY_TIMEOUT 15; the misfire grace is the default.
Needs TEST_POSTGRES_URL's server for ``--database postgres``, ``redis-server``
for ``--broker redis``, the RabbitMQ server on 127.0.0.1:5672 and
``rabbitmqctl`` for ``--broker rabbitmq``. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts import chaos_faults, chaos_stack  # noqa: E402
from scripts.chaos_faults import FAULTS, Context, Fleet, RandomKiller  # noqa: E402

# Bookings per second (bulk) on the loaded 2-core machine here; leave room.
BOOKINGS_PER_SECOND = 150


def _env(args: argparse.Namespace, database_url: str, broker_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        # A killed worker's unacknowledged task comes back after this long (Redis).
        "CELERY_VISIBILITY_TIMEOUT": "15",
        "CELERY_UNACKED_RESTORE_INTERVAL": "5",
        # A message the broker lost is published again after this long.
        "SCHEDULING_SENT_REPUBLISH_SECONDS": str(args.sent_republish),
        # A killed worker's occurrence is published again after this long.
        "SCHEDULING_OCCURRENCE_LEASE_SECONDS": str(args.lease),
        # Small batches make a backlog several: on PostgreSQL they are
        # published behind the claims (scheduling.publish_behind).
        **({"SCHEDULING_BEAT_BATCH_SIZE": str(args.beat_batch)} if args.beat_batch else {}),
        "VAR_DIR": str(args.workdir / "var"),
        "EMAIL_BACKEND": "scripts.chaos_mail.SlowFileBackend",
        "EMAIL_FILE_PATH": str(args.workdir / "mail"),
        "CHAOS_MAIL_DELAY_FILE": str(args.workdir / "mail-delay"),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }


# --- Booking ------------------------------------------------------------------------


def _book(prefix: str, instants: list[datetime]) -> None:
    """One appointment with one participant per instant, its 15-minute reminder due then.

    In batches of 500 through the bulk paths (``bulk_create`` and
    ``schedule_events``, as the HTTP API's bulk endpoint books): one
    ``book_appointment`` each took 50 ms on the loaded machine here, ten
    minutes for a 10,000-event backlog. The reminders are those
    ``book_appointment`` would schedule (docs/events.md), without the
    follow-ups, which would fall due after the run.
    """
    from django.db import transaction

    for first in range(0, len(instants), 500):
        with transaction.atomic():
            _book_some(prefix, instants, first, first + 500)


def _book_some(prefix: str, instants: list[datetime], first: int, stop: int) -> None:
    from django.contrib.auth.models import User

    from handlers.models import Appointment, Participant
    from scheduling.services.events import schedule_events

    numbers = range(first, min(stop, len(instants)))
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com") for i in numbers]
    )
    appointments = Appointment.objects.bulk_create(
        [
            Appointment(
                title=f"Chaos {prefix}{i}",
                resource=f"room-{i % 7}",
                start_time=instants[i] + timedelta(minutes=15),
                end_time=instants[i] + timedelta(minutes=45),
                resource_timezone="Europe/Paris",
                user_timezone="America/New_York",
            )
            for i in numbers
        ]
    )
    participants = Participant.objects.bulk_create(
        [Participant(appointment=a, user=u) for a, u in zip(appointments, users, strict=True)]
    )
    schedule_events([_reminder(a, p) for a, p in zip(appointments, participants, strict=True)])


def _reminder(appointment: Any, participant: Any) -> dict[str, Any]:
    return {
        "event_type": "APPOINTMENT_REMINDER",
        "entity_id": appointment.entity_id,
        "scheduled_time": appointment.start_time - timedelta(minutes=15),
        "resource_timezone": appointment.resource_timezone,
        "user_timezone": appointment.user_timezone,
        "payload": {
            "appointment_id": appointment.entity_id,
            "reminder_type": "15_minute_reminder",
            "participant_ids": [str(participant.pk)],
            "title": appointment.title,
            "start_time": appointment.start_time.isoformat(),
        },
    }


def _plan(args: argparse.Namespace, rng: random.Random) -> list[dict[str, Any]]:
    """The faults in order, with offsets (seconds after the first reminder)."""
    phases, offset = [], args.gap
    for kind in args.faults:
        low, high = chaos_faults.DURATIONS[kind]
        duration = args.fault_seconds or round(rng.uniform(low, high), 1)
        phases.append({"kind": kind, "offset": offset, "duration": duration})
        offset += duration + args.gap
    return phases


# --- Measuring ----------------------------------------------------------------------


def _settled(total: int) -> bool:
    from scheduling.models import FINAL_OCCURRENCE_STATUSES, Occurrence

    done = Occurrence.objects.filter(
        event__event_type="APPOINTMENT_REMINDER", status__in=FINAL_OCCURRENCE_STATUSES
    ).count()
    return done >= total


def _percentiles(values: list[float]) -> dict[str, float | None]:
    values = sorted(values)
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(values[len(values) // 2], 3),
        "p99": round(values[max(0, int(len(values) * 0.99) - 1)], 3),
        "max": round(values[-1], 3),
    }


def _mails(mail_dir: Path) -> list[dict[str, str]]:
    return [
        dict(
            line.split(": ", 1)
            for line in message.splitlines()
            if line.startswith(("To: ", "Message-ID: "))
        )
        for path in (mail_dir.iterdir() if mail_dir.exists() else [])
        for message in path.read_text(errors="replace").split("-" * 79)
        if "Message-ID: " in message
    ]


def _effects(mail_dir: Path) -> dict[str, int]:
    from django.db.models import Count

    from handlers.models import Notification

    mails = _mails(mail_dir)
    ids_by_recipient: dict[str, set[str]] = {}
    for mail in mails:
        ids_by_recipient.setdefault(mail["To"], set()).add(mail["Message-ID"])
    per_reminder = Notification.objects.values("occurrence__event").annotate(n=Count("id"))
    distinct = {m["Message-ID"] for m in mails}
    return {
        "notifications": Notification.objects.count(),
        "notifications_beyond_one_per_reminder": sum(r["n"] - 1 for r in per_reminder),
        "emails_delivered": len(mails),
        "emails_distinct": len(distinct),
        "message_ids_beyond_one_per_recipient": sum(len(s) - 1 for s in ids_by_recipient.values()),
        # The same Message-ID delivered again: at-least-once, not a duplicate effect.
        "repeated_deliveries": len(mails) - len(distinct),
    }


def _republish_log(workdir: Path) -> dict[str, int]:
    pattern = re.compile(r"published again (\d+) occurrences")
    lines = [
        m
        for p in workdir.glob("beat-*.log")
        for m in pattern.findall(p.read_text("utf-8", "replace"))
    ]
    return {"log_lines": len(lines), "log_occurrences": sum(int(n) for n in lines)}


def _recovery(
    rows: list[tuple[datetime, datetime | None]], phase: dict[str, Any]
) -> dict[str, Any]:
    start = datetime.fromtimestamp(phase["start"], UTC)
    end = datetime.fromtimestamp(phase["end"], UTC)
    after = [(due, done) for due, done in rows if due >= end]
    during = [done for due, done in rows if start <= due < end and done is not None]
    first = min(after, default=None)
    return {
        "kind": phase["kind"],
        "fault_s": round(phase["end"] - phase["start"], 1),
        "reminders_due_during": len([1 for due, _ in rows if start <= due < end]),
        "first_after_s": (
            round((first[1] - end).total_seconds(), 1) if first and first[1] else None
        ),
        "caught_up_s": round((max(during) - end).total_seconds(), 1) if during else None,
    }


def _backlog(
    rows: list[tuple[datetime, datetime | None, str, int]], due: datetime
) -> dict[str, Any]:
    done = [f for _, f, _, _ in rows if f is not None]
    return {
        "reminders": len(rows),
        "by_status": dict(Counter(s for _, _, s, _ in rows)),
        "missed": sum(1 for _, _, s, _ in rows if s == "missed"),
        "republished": sum(1 for *_, n in rows if n),
        "first_done_s": round((min(done) - due).total_seconds(), 1) if done else None,
        "drained_s": round((max(done) - due).total_seconds(), 1) if done else None,
    }


def _verdict(run: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from django.db.models import Count, Q, Sum

    from scheduling.models import FINAL_OCCURRENCE_STATUSES, Occurrence, ScheduledEvent

    reminders = ScheduledEvent.objects.filter(event_type="APPOINTMENT_REMINDER")
    occurrences = Occurrence.objects.filter(event__in=reminders)
    final = Count("occurrences", filter=Q(occurrences__status__in=FINAL_OCCURRENCE_STATUSES))
    by_status = Counter(occurrences.values_list("status", flat=True))
    rows = list(
        occurrences.values_list("scheduled_for", "finished_at", "status", "republish_count")
    )
    backlog_due = run.get("backlog_due")
    backlog_at = datetime.fromtimestamp(backlog_due, UTC) if backlog_due else None
    spread = [(d, f) for d, f, _, _ in rows if backlog_at is None or d < backlog_at]
    sent = [(o.sent_at - o.scheduled_for).total_seconds() for o in occurrences if o.sent_at]
    finished = [(f - d).total_seconds() for d, f, _, _ in rows if f]
    result = {
        "stack": run["stack"],
        "reminders": reminders.count(),
        "occurrences": len(rows),
        "by_status": dict(by_status),
        "lost": reminders.annotate(n=final).exclude(n=1).count(),
        "stuck": sum(n for s, n in by_status.items() if s not in FINAL_OCCURRENCE_STATUSES),
        "events_with_two_occurrences": reminders.annotate(n=Count("occurrences"))
        .filter(n__gt=1)
        .count(),
        **_effects(workdir / "mail"),
        "handler_runs_beyond_one": sum(
            max(0, a - 1) for a in occurrences.values_list("attempts", flat=True)
        ),
        "republishes": {
            "republish_count_sum": occurrences.aggregate(n=Sum("republish_count"))["n"] or 0,
            "occurrences_republished": occurrences.filter(republish_count__gt=0).count(),
            **_republish_log(workdir),
        },
        "missed": by_status.get("missed", 0),
        "recovery": [_recovery(spread, phase) for phase in run["phases"]],
        "publish_latency_s": _percentiles(sent),
        "completion_latency_s": _percentiles(finished),
    }
    if backlog_at is not None:
        result["backlog"] = _backlog([r for r in rows if r[0] >= backlog_at], backlog_at)
    return result


def _ok(result: dict[str, Any], run: dict[str, Any]) -> bool:
    succeeded = result["by_status"].get("succeeded", 0)
    return (
        result["reminders"] == run["total"]
        and result["lost"] == 0
        and result["stuck"] == 0
        and result["events_with_two_occurrences"] == 0
        and set(result["by_status"]) <= {"succeeded", "missed"}
        and result["notifications"] == succeeded
        and result["emails_distinct"] == succeeded
        and result["notifications_beyond_one_per_reminder"] == 0
        and result["message_ids_beyond_one_per_recipient"] == 0
        # A known library crash is reported, not counted (docs/reliability.md).
        and not [e for e in result["unexpected_exits"] if not e["known"]]
    )


# --- The run ------------------------------------------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=chaos_stack.DATABASES, default="postgres")
    parser.add_argument("--broker", choices=chaos_stack.BROKERS, default="redis")
    parser.add_argument("--fault", action="append", default=[], choices=[*FAULTS, "all"])
    parser.add_argument("--fault-seconds", type=float, help="every fault this long")
    parser.add_argument("--gap", type=float, default=30.0, help="seconds between faults")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--window", type=float, default=120.0)
    parser.add_argument("--backlog", type=int, default=0)
    parser.add_argument("--kill-every", type=float, default=4.0)
    parser.add_argument("--sent-republish", type=int, default=30)
    parser.add_argument("--lease", type=int, default=15)
    parser.add_argument(
        "--beat-batch", type=int, help="SCHEDULING_BEAT_BATCH_SIZE of the beats (default 500)"
    )
    parser.add_argument("--settle-timeout", type=float, default=180.0)
    parser.add_argument("--name", default="run", help="suffix of the chaos_ database and vhost")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    args.workdir = (args.workdir or ROOT / "var" / f"chaos-{args.name}").resolve()
    stack = {"database": args.database, "broker": args.broker}
    if "all" in args.fault:
        args.faults = [k for k in FAULTS if chaos_faults.applicable(k, **stack) is None]
    else:
        args.faults = list(dict.fromkeys(args.fault))
    for kind in args.faults:
        if why := chaos_faults.applicable(kind, **stack):
            parser.error(why)
    return args


def _setup_django(
    args: argparse.Namespace, database: chaos_stack.Database, broker_url: str
) -> None:
    os.environ.update(_env(args, database.direct_url, broker_url))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _timeline(
    args: argparse.Namespace, phases: list[dict[str, Any]]
) -> tuple[float, float, float | None]:
    """Book the reminders; return (first due, last spread due, backlog due) as epochs."""
    total = args.events + args.backlog
    first = time.time() + 10 + total / BOOKINGS_PER_SECOND
    window = max(
        args.window, phases[-1]["offset"] + phases[-1]["duration"] + args.gap if phases else 0
    )
    spread = [
        datetime.fromtimestamp(first + window * i / max(1, args.events), UTC)
        for i in range(args.events)
    ]
    backlog_due = first + window + 5 if args.backlog else None
    started = time.time()
    _book("u", spread)
    if backlog_due is not None:
        _book("b", [datetime.fromtimestamp(backlog_due, UTC)] * args.backlog)
    print(f"booked {total} in {time.time() - started:.0f} s", flush=True)
    if time.time() > first:
        print(f"!!! booking overran the first reminder by {time.time() - first:.0f} s", flush=True)
    return first, first + window, backlog_due


def _inject(ctx: Context, phases: list[dict[str, Any]], first: float) -> None:
    for phase in phases:
        time.sleep(max(0.0, first + phase["offset"] - time.time()))
        print(f"fault {phase['kind']} for {phase['duration']} s", flush=True)
        phase["start"] = time.time()
        FAULTS[phase["kind"]](ctx, phase["duration"])
        phase["end"] = time.time()
        print(f"fault {phase['kind']} over", flush=True)


def _wait_settled(fleet: Fleet, total: int, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        fleet.check()
        try:
            if _settled(total):
                return
        except Exception as exc:  # noqa: BLE001 - keep waiting through a blip
            print(f"settle check failed: {exc}", flush=True)
        time.sleep(2)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # Stopped from outside: still stop the processes, servers and proxies it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    chaos_stack.empty_workdir(args.workdir)
    (args.workdir / "mail-delay").write_text("0")
    faulty = any(k.startswith("db-") for k in args.faults)
    database = chaos_stack.Database(args.database, args.name, args.workdir, faulty=faulty)
    broker = chaos_stack.Broker(args.broker, args.name, args.workdir)
    rng = random.Random(args.seed)
    fleet = Fleet(args.workdir, _env(args, database.process_url, broker.url))
    killer = RandomKiller(fleet, random.Random(args.seed + 1), args.kill_every)
    ctx = Context(fleet, database, broker, args.workdir / "mail-delay", rng)
    run: dict[str, Any] = {
        "stack": {"database": args.database, "broker": args.broker},
        "total": args.events + args.backlog,
        "phases": _plan(args, rng),
    }
    try:
        database.reset()
        broker.reset()
        _setup_django(args, database, broker.url)
        first, last_due, run["backlog_due"] = _timeline(args, run["phases"])
        for name in ("beat-1", "beat-2", "worker-1", "worker-2"):
            fleet.start(name)
        killer.start()
        _inject(ctx, run["phases"], first)
        time.sleep(max(0.0, last_due + 5 - time.time()))
        killer.stop()
        _wait_settled(fleet, run["total"], args.settle_timeout)
    finally:
        killer.stop()
        fleet.stop()
        broker.close()
        database.close()
    result = _verdict(run, args.workdir)
    result |= {"kills": fleet.kills, "unexpected_exits": fleet.unexpected_exits, "seed": args.seed}
    ok = _ok(result, run)
    result["ok"] = ok
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print("CHAOS OK" if ok else "CHAOS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
