"""HTTP API load: wrk against the web process, on the embedded default and on PostgreSQL + Redis.

    apt-get install -y wrk
    .venv/bin/python benchmarks/api_load.py [--targets embedded postgres] [--rounds 2]
        [--connections 8] [--duration 20] [--warmup 3] [--workers 2] [--bulk-size 50]
        [--limited-duration 10] [--json docs/benchmark-data/api-load.json]

For each target and round, a fresh database (embedded: a new SQLite file and
filesystem broker under a temporary VAR_DIR; postgres: the database
``bench_api`` dropped and created again, the broker on Redis db 12 and the
rate-limit counters on Redis db 11, both flushed) is migrated and given an API
key (``manage.py api_keys create``). Then the Procfile's web process (gunicorn,
``--workers`` sync workers on 127.0.0.1) serves it, with no worker and no beat:
the run measures the API's write path, not the firing of events.

- schedule: ``POST /api/events/schedule``, one new event per request (a unique
  entity_id), the original client's body; wrk's closed loop with
  ``--connections`` connections for ``--duration`` seconds, after a
  ``--warmup`` run whose figures are discarded. The rate limit is set out of
  reach: this measures throughput, not the limiter.
- bulk: the same with ``POST /api/events/bulk``, ``--bulk-size`` events each.
- limited: the web process restarted with the default rate limit, the key's
  budget spent first, then ``--limited-duration`` seconds of schedule
  requests: what a refused request (429) costs.

Each run reports wrk's requests/s and latency percentiles (from its own
histogram; requests slower than --timeout would be socket errors, not
latencies), the answers per status (wrk's response() callback and the access
log), the ScheduledEvent rows created (every 2xx must have created its rows,
nothing else may), CPU seconds spent by the web processes, wrk, the
database's backends and Redis, how busy the whole machine was, and the
problems the server logged. Every run is bounded (at most 30 s of load) and
on loopback only. Results: --json, and a markdown table on stdout for
docs/benchmarks.md.

--profile N adds, per target, N schedule requests through Django's test
client in one process (no gunicorn, no sockets, no wrk): the milliseconds a
request costs on one core, its SQL statements, and under cProfile the share
of the request spent in each step of the write path.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).with_suffix(".lua")
MAX_LOAD_SECONDS = 30
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_ADMIN = f"{PG_SERVER}/postgres"
PG_DATABASE = "bench_api"
BROKER_REDIS = "redis://127.0.0.1:6379/12"
RATE_LIMIT_REDIS = "redis://127.0.0.1:6379/11"
UNREACHABLE_LIMIT = "1000000000"
SERVICE = "backend"
RESOURCE_ZONE = "America/New_York"
# Variables this script decides; whatever the calling shell has is dropped.
CONTROLLED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "RATE_LIMIT_REDIS_URL",
    "VAR_DIR",
    "DJANGO_DEBUG",
    "SCHEDULING_API_RATE_LIMIT",
    "SCHEDULING_API_RATE_WINDOW_SECONDS",
    "SCHEDULING_API_BULK_MAX_EVENTS",
    "SCHEDULING_API_MAX_BODY_BYTES",
    "WEB_CONCURRENCY",
)
# Other programs that load the same two cores: noted with each run.
NEIGHBOURS = ("pytest", "chaos.py", "beat_bench.py", "celery", "wrk", "gunicorn")
LOG_PROBLEMS = re.compile(
    r"Traceback|ERROR|CRITICAL|WORKER TIMEOUT|database is locked|Error handling request|"
    r"Broken pipe|Exception"
)
ACCESS_LINE = re.compile(r'"(?:POST|GET|DELETE) (\S+) HTTP/1\.[01]" (\d{3}) ')


# --- Targets: a fresh database and the environment that points at it --------------------


@dataclass
class Target:
    name: str
    env: dict[str, str]
    count_rows: Callable[[], int]
    backend_pids: Callable[[], list[int]] = field(default=lambda: [])  # database processes
    drop: Callable[[], None] = field(default=lambda: None)  # after the round


def _base_env(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED_ENV}
    return env | {"VAR_DIR": str(workdir / "var"), "PYTHONUNBUFFERED": "1"}


def embedded_target(workdir: Path) -> Target:
    """SQLite in a new file and the filesystem broker, as the embedded default."""
    db = workdir / "db.sqlite3"
    env = _base_env(workdir) | {
        "DATABASE_URL": f"sqlite:///{db}",
        "CELERY_BROKER_URL": "filesystem://",
    }
    return Target("embedded", env, lambda: _sqlite_rows(db))


def _sqlite_rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        return int(conn.execute("SELECT count(*) FROM scheduling_scheduledevent").fetchone()[0])


def postgres_target(workdir: Path) -> Target:
    """PostgreSQL (the database bench_api, dropped and made again) and Redis."""
    import redis

    _pg_admin(
        f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)", f"CREATE DATABASE {PG_DATABASE}"
    )
    for url in (BROKER_REDIS, RATE_LIMIT_REDIS):
        redis.Redis.from_url(url).flushdb()
    env = _base_env(workdir) | {
        "DATABASE_URL": f"{PG_SERVER}/{PG_DATABASE}",
        "CELERY_BROKER_URL": BROKER_REDIS,
        "RATE_LIMIT_REDIS_URL": RATE_LIMIT_REDIS,
    }
    return Target("postgres", env, _pg_rows, _pg_backends, _pg_drop)


def _pg_drop() -> None:
    _pg_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


def _pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _pg_query(sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/{PG_DATABASE}") as conn:
        return conn.execute(sql).fetchall()


def _pg_rows() -> int:
    return int(_pg_query("SELECT count(*) FROM scheduling_scheduledevent")[0][0])


def _pg_backends() -> list[int]:
    """The server processes serving the web's connections to bench_api."""
    rows = _pg_query(
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{PG_DATABASE}' "
        "AND pid <> pg_backend_pid()"
    )
    return [int(pid) for (pid,) in rows]


TARGETS: dict[str, Callable[[Path], Target]] = {
    "embedded": embedded_target,
    "postgres": postgres_target,
}


def manage(target: Target, *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *argv],
        cwd=ROOT,
        env=target.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def prepare(target: Target) -> str:
    """Migrate the fresh database; return a new API key of the service."""
    manage(target, "migrate", "--verbosity", "0")
    return manage(target, "api_keys", "create", "--service", SERVICE).strip()


# --- The web process, as the Procfile starts it ------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Web:
    """gunicorn project.wsgi on 127.0.0.1, in a process group of its own."""

    def __init__(self, target: Target, workdir: Path, workers: int, rate_limit: str | None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"web-{self.port}.log"
        env = dict(target.env)
        if rate_limit is not None:
            env["SCHEDULING_API_RATE_LIMIT"] = rate_limit
        argv = [
            *(sys.executable, "-m", "gunicorn", "project.wsgi"),
            *("--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)),
            *("--access-logfile", "-"),
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web exited with {self.proc.returncode}:\n{self.log()[-2000:]}")
            if _answers(f"{self.url}/api/openapi.json"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"web not serving after {timeout} s:\n{self.log()[-2000:]}")

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.proc.pid, *_children(self.proc.pid)]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Workers that outlived the master are in the same group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def serving(target: Target, workdir: Path, workers: int, rate_limit: str | None) -> Iterator[Web]:
    web = Web(target, workdir, workers, rate_limit)
    try:
        web.wait_ready()
        yield web
    finally:
        web.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


# --- /proc: CPU seconds per process, how busy the machine is, who else runs ---------------


TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from "state" on


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields:
                parents[int(entry.name)] = int(fields[1])
    return parents


def _children(pid: int) -> list[int]:
    return [child for child, parent in _parents().items() if parent == pid]


def _descendants(pid: int) -> set[int]:
    parents = _parents()
    found = {pid}
    grew = True
    while grew:
        more = {child for child, parent in parents.items() if parent in found}
        grew = not more <= found
        found |= more
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each live process."""
    cpu = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return cpu


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return round(sum(t - before.get(pid, 0.0) for pid, t in after.items()), 2)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def machine_share(before: tuple[int, int], after: tuple[int, int], ours_s: float) -> dict[str, Any]:
    """How busy the cores were, and the CPU seconds of programs other than this run's."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return {
        "machine_busy_pct": round(100 * busy / total),
        "other_cpu_s": round(max(0.0, busy / TICKS - ours_s), 1),
    }


def neighbours() -> list[str]:
    """Command lines of other programs that compete for the cores (not ours)."""
    ours = _descendants(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            line = " ".join(a.decode(errors="replace") for a in argv if a)
            if any(name in line for name in NEIGHBOURS) and "api_load" not in line:
                found.append(line[:120])
    return sorted(found)


def wait_for_quiet(limit_s: float) -> list[str]:
    """Wait up to limit_s for neighbours to finish; return those still running."""
    deadline = time.monotonic() + limit_s
    others = neighbours()
    while others and time.monotonic() < deadline:
        print(f"  waiting for a quiet machine: {others[0]} (+{len(others) - 1})", flush=True)
        time.sleep(15)
        others = neighbours()
    return others


def redis_pid() -> int | None:
    import redis

    with contextlib.suppress(Exception):
        return int(redis.Redis.from_url(RATE_LIMIT_REDIS).info("server")["process_id"])
    return None


# --- wrk ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    path: str
    batch: int
    connections: int
    threads: int
    seconds: int
    timeout_s: int


def when_args() -> list[str]:
    """Base instant (30 days ahead, on the hour) and its New York offset, for the Lua script."""
    base = (datetime.now(UTC) + timedelta(days=30)).replace(minute=0, second=0, microsecond=0)
    offset = base.astimezone(ZoneInfo(RESOURCE_ZONE)).utcoffset() or timedelta(0)
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    text = f"{sign}{abs(seconds) // 3600:02d}:{abs(seconds) % 3600 // 60:02d}"
    return [str(int(base.timestamp())), str(seconds), text]


def run_wrk(web: Web, key: str, load: Load, label: str) -> dict[str, Any]:
    """One bounded wrk run; wrk's figures, its per-status counts and its CPU seconds."""
    argv = [
        *("wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.seconds}s"),
        *(f"--timeout={load.timeout_s}s", "--latency", "-s", str(LUA), web.url, "--"),
        *(load.path, SERVICE, key, label, *when_args(), str(load.batch)),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=load.seconds + 60, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
    result = parse_wrk(done.stdout)
    result["wrk_cpu_s"] = round(
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
    )
    return result


def parse_wrk(stdout: str) -> dict[str, Any]:
    """requests/s from wrk's text; the rest from the script's API_LOAD line."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", stdout, re.MULTILINE)
    line = next((x for x in stdout.splitlines() if x.startswith("API_LOAD ")), None)
    if rps is None or line is None:
        raise RuntimeError(f"unexpected wrk output:\n{stdout}")
    data = json.loads(line[len("API_LOAD ") :])
    latency = {k: round(v / 1000, 2) for k, v in data["latency_us"].items()}
    statuses = {int(k): v for k, v in sorted(data["statuses"].items())}
    socket_errors = {k: v for k, v in data["errors"].items() if k != "status"}
    return {
        "requests": data["requests"],
        "seconds": round(data["duration_us"] / 1e6, 2),
        "requests_per_s": float(rps.group(1)),
        "latency_ms": latency,
        "statuses": statuses,
        "non_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "socket_errors": socket_errors,
    }


# --- One measured run ---------------------------------------------------------------


def access_statuses(text: str, path: str) -> dict[int, int]:
    counts = Counter(int(s) for p, s in ACCESS_LINE.findall(text) if p == path)
    return dict(sorted(counts.items()))


def log_problems(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if LOG_PROBLEMS.search(line)]
    counts = Counter(re.sub(r"^\[[^]]*\] \[\d+\] ", "", line)[:160] for line in lines)
    return [f"{n}× {line}" for line, n in counts.most_common(8)]


def settle(web: Web, quiet_s: float = 1.0, limit_s: float = 15.0) -> None:
    """Wait until the access log stops growing: requests in flight when wrk stopped."""
    deadline = time.monotonic() + limit_s
    size = web.log_size()
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        now = web.log_size()
        if now == size:
            return
        size = now


def measured_run(target: Target, web: Web, key: str, load: Load, label: str) -> dict[str, Any]:
    settle(web)  # the warm-up's last requests, still in flight, belong to it
    rows_before = target.count_rows()
    log_from = web.log_size()
    # Backends that answer the web's connections exist after the warm-up.
    pids = {"web": web.pids(), "database": target.backend_pids(), "redis": []}
    if target.name == "postgres":
        pids["redis"] = [p for p in [redis_pid()] if p]
    cpu_before = {name: cpu_seconds(p) for name, p in pids.items()}
    ticks_before = machine_ticks()
    load_before = os.getloadavg()[0]
    result = run_wrk(web, key, load, label)
    ticks_after = machine_ticks()
    cpu = {name: _cpu_delta(cpu_before[name], cpu_seconds(p)) for name, p in pids.items()}
    cpu["wrk"] = result.pop("wrk_cpu_s")
    others_after = neighbours()
    settle(web)
    log_text = web.log()[log_from:]
    server = access_statuses(log_text, load.path)
    created = target.count_rows() - rows_before
    return result | {
        "cpu_s": cpu,
        **machine_share(ticks_before, ticks_after, sum(cpu.values())),
        "load_1m_before": round(load_before, 2),
        "neighbours_at_end": others_after,
        "server_statuses": server,
        "rows_created": created,
        "rows_expected": sum(n for s, n in server.items() if s == 201) * load.batch,
        "log_problems": log_problems(log_text),
    }


# --- The rate limiter: spend the budget, then measure refusals ---------------------------


def _event_body(entity: str) -> dict[str, Any]:
    when = datetime.now(UTC).astimezone(ZoneInfo(RESOURCE_ZONE)) + timedelta(days=30)
    return {
        "type": "APPOINTMENT_REMINDER",
        "entity_id": entity,
        "scheduled_time": when.isoformat(),
        "timezone_context": {"resource_timezone": RESOURCE_ZONE, "user_timezone": "Europe/London"},
        "payload": {"appointment_id": entity, "reminder_type": "24_hour_reminder"},
    }


def _post(web: Web, key: str, path: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        web.url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Service-Name": SERVICE, "X-API-Key": key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def spend_budget(web: Web, key: str, label: str) -> int:
    """Spend the key's budget in every web process; return the requests it took.

    Bulk requests of 100 events (100 units each) until refused several times
    in a row, then single ones (the last units) until 20 refusals in a row:
    with per-process budgets (the embedded default), each worker must be
    spent, and which worker answers is up to the kernel.
    """
    sent = 0
    for size, enough in ((100, 6), (1, 20)):
        refused = 0
        while refused < enough and sent < 3000:
            body = (
                {"events": [_event_body(f"{label}-{sent}-{i}") for i in range(size)]}
                if size > 1
                else _event_body(f"{label}-{sent}")
            )
            path = "/api/events/bulk" if size > 1 else "/api/events/schedule"
            refused = refused + 1 if _post(web, key, path, body) == 429 else 0
            sent += 1
    return sent


def wait_for_window(window_s: int, needed_s: float) -> None:
    """Sleep into the next rate-limit window unless this one has needed_s left."""
    left = window_s - time.time() % window_s
    if left < needed_s:
        time.sleep(left + 0.5)


# --- A round on one target ---------------------------------------------------------------


def round_on(name: str, round_no: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix=f"api-load-{name}-"))
    target = None
    try:
        target = TARGETS[name](workdir)
        key = prepare(target)
        runs = throughput_runs(target, workdir, key, round_no, args)
        if args.limited_duration:
            runs.append(limited_run(target, workdir, key, round_no, args))
        return runs
    finally:
        if target is not None and not args.keep:
            target.drop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _load(args: argparse.Namespace, path: str, batch: int, seconds: int) -> Load:
    return Load(path, batch, args.connections, args.threads, seconds, args.timeout)


def _describe(
    target: Target, kind: str, round_no: int, args: argparse.Namespace, others: list[str]
) -> dict[str, Any]:
    return {
        "target": target.name,
        "kind": kind,
        "round": round_no,
        "web_workers": args.workers,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "duration_s": args.limited_duration if kind == "limited" else args.duration,
        "batch": args.bulk_size if kind == "bulk" else 1,
        "neighbours": others,
    }


def throughput_runs(
    target: Target, workdir: Path, key: str, round_no: int, args: argparse.Namespace
) -> list[dict[str, Any]]:
    kinds = [("schedule", "/api/events/schedule", 1)]
    if args.bulk_size:
        kinds.append(("bulk", "/api/events/bulk", args.bulk_size))
    runs = []
    with serving(target, workdir, args.workers, UNREACHABLE_LIMIT) as web:
        for kind, path, batch in kinds:
            others = wait_for_quiet(args.wait_quiet)
            if args.warmup:
                run_wrk(web, key, _load(args, path, batch, args.warmup), f"w{round_no}{kind}")
            load = _load(args, path, batch, args.duration)
            result = measured_run(target, web, key, load, f"r{round_no}{kind}")
            runs.append(_describe(target, kind, round_no, args, others) | result)
            _report(runs[-1])
    return runs


def limited_run(
    target: Target, workdir: Path, key: str, round_no: int, args: argparse.Namespace
) -> dict[str, Any]:
    """The default rate limit, its budget spent: every request should be a cheap 429."""
    window = 60  # SCHEDULING_API_RATE_WINDOW_SECONDS's default, which this run keeps
    with serving(target, workdir, args.workers, None) as web:
        others = wait_for_quiet(args.wait_quiet)
        wait_for_window(window, needed_s=args.limited_duration + 30)
        spent_with = spend_budget(web, key, f"s{round_no}")
        load = _load(args, "/api/events/schedule", 1, args.limited_duration)
        result = measured_run(target, web, key, load, f"r{round_no}limited")
    run = _describe(target, "limited", round_no, args, others) | result
    run["budget_spent_with_requests"] = spent_with
    _report(run)
    return run


# --- In-process profile: one core, no HTTP -----------------------------------------------

# The steps of a schedule request: (file suffix, function) -> label.
PROFILE_STEPS = {
    ("scheduling/api/auth.py", "endpoint"): "the view and its decorator",
    ("scheduling/services/api_keys.py", "authenticate"): "authenticate the key (SELECT)",
    ("scheduling/api/ratelimit.py", "spend"): "rate limit (cache add + incr)",
    ("scheduling/api/parsing.py", "event_arguments"): "parse the body",
    ("scheduling/validation.py", "build_event_spec"): "validate the event",
    ("scheduling/services/events.py", "_find_duplicate"): "look for a duplicate (SELECT)",
    ("scheduling/services/events.py", "_create_events"): "write the rows",
    ("scheduling/services/beat_rows.py", "create_periodic_tasks"): "- of which the beat rows",
    ("django/db/models/base.py", "full_clean"): "- of which full_clean()",
    ("scheduling/audit.py", "record_many"): "- of which the audit entry",
    ("django/db/models/query.py", "bulk_create"): "- of which in bulk_create (all 4 INSERTs)",
    ("scheduling/encryption.py", "encrypt"): "- of which payload encryption",
    ("django/db/transaction.py", "__exit__"): "COMMIT",
}


def child_profile(n: int) -> dict[str, Any]:
    """n schedule requests through the test client, timed, then under cProfile."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from scheduling.services.api_keys import create_api_key

    key = create_api_key(service_id=SERVICE)[1]
    client = Client(HTTP_HOST="127.0.0.1", HTTP_X_SERVICE_NAME=SERVICE, HTTP_X_API_KEY=key)

    def post(entity: str) -> None:
        answer = client.post(
            "/api/events/schedule", _event_body(entity), content_type="application/json"
        )
        assert answer.status_code == 201, answer.content

    for i in range(50):  # warm: imports, first connection, caches
        post(f"warm-{i}")
    with CaptureQueriesContext(connection) as queries:
        post("queries")
    # Read now: the next request's request_started empties the log.
    sql = [_statement(q["sql"]) for q in queries.captured_queries]
    started = time.perf_counter()
    for i in range(n):
        post(f"timed-{i}")
    per_request = (time.perf_counter() - started) * 1000 / n
    profile = cProfile.Profile()
    profile.runcall(lambda: [post(f"profiled-{i}") for i in range(n)])
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    return {
        "requests": n,
        "ms_per_request": round(per_request, 2),
        "ms_per_rate_limit_check": _time_rate_limit(n),
        "sql": sql,
        "profiled_ms_per_request": _profiled_steps(stats, n),
    }


def _time_rate_limit(n: int) -> float:
    """Milliseconds one rate-limit check takes alone (on a key id no real key has)."""
    from scheduling.api import ratelimit

    started = time.perf_counter()
    for _ in range(n):
        ratelimit.spend(-1, 1)
    return round((time.perf_counter() - started) * 1000 / n, 3)


def _statement(sql: str) -> str:
    """``SELECT … FROM "table"`` / ``INSERT INTO "table"``: the statement, not its text."""
    match = re.match(r'(SELECT) .*? (FROM "\w+")|(INSERT INTO "\w+")|(UPDATE "\w+")', sql)
    if match is None:
        return sql[:40]
    return " … ".join(part for part in match.groups() if part)


def _profiled_steps(stats: dict[Any, Any], n: int) -> dict[str, float]:
    """Milliseconds per request in each step (cumulative, under the profiler)."""
    steps = dict.fromkeys(PROFILE_STEPS.values(), 0.0)
    for (filename, _line, function), (_cc, _nc, _tt, cumulative, _callers) in stats.items():
        for (suffix, name), label in PROFILE_STEPS.items():
            if function == name and filename.endswith(suffix):
                steps[label] = round(steps[label] + cumulative * 1000 / n, 2)
    return steps


def profile_target(target: Target, n: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child-profile", str(n)],
        cwd=ROOT,
        env=target.env | {"SCHEDULING_API_RATE_LIMIT": UNREACHABLE_LIMIT, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return {"target": target.name} | json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"profile failed:\n{done.stderr[-2000:]}")


def profile_round(name: str, n: int, wait_quiet: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"api-load-profile-{name}-"))
    target = None
    try:
        target = TARGETS[name](workdir)
        manage(target, "migrate", "--verbosity", "0")
        others = wait_for_quiet(wait_quiet)
        result = profile_target(target, n) | {"neighbours": others}
    finally:
        if target is not None:
            target.drop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"  {name}: {result['ms_per_request']} ms/request in-process", flush=True)
    return result


# --- Output --------------------------------------------------------------------------------


def _report(run: dict[str, Any]) -> None:
    print(
        f"  {run['target']} {run['kind']} #{run['round']}: {run['requests_per_s']:.1f} req/s, "
        f"p50 {run['latency_ms']['p50']} ms, p99 {run['latency_ms']['p99']} ms, "
        f"statuses {run['statuses']}, rows {run['rows_created']}/{run['rows_expected']}, "
        f"cpu {run['cpu_s']}, machine {run['machine_busy_pct']} % busy, "
        f"others {run['other_cpu_s']} cpu s",
        flush=True,
    )


KIND_ORDER = {"schedule": 0, "bulk": 1, "limited": 2}


def markdown(runs: list[dict[str, Any]]) -> str:
    """One row per run, grouped by target and kind, numbered in the order they ran."""
    lines = [
        "| target | run | web workers | connections | duration | requests/s | events/s "
        "| p50 | p99 | non-2xx | rows created / 201s × events | other programs' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seen: Counter[tuple[str, str]] = Counter()
    targets = list(TARGETS)
    for run in sorted(runs, key=lambda r: (targets.index(r["target"]), KIND_ORDER[r["kind"]])):
        seen[run["target"], run["kind"]] += 1
        lines.append(_row(run, seen[run["target"], run["kind"]]))
    return "\n".join(lines)


def _row(run: dict[str, Any], number: int) -> str:
    events = f"{run['requests_per_s'] * run['batch']:,.0f}" if run["kind"] != "limited" else "—"
    refused = ", ".join(f"{n:,} × {s}" for s, n in run["statuses"].items() if int(s) >= 300)
    kind = f"bulk of {run['batch']}" if run["kind"] == "bulk" else run["kind"]
    return (
        f"| {_target_label(run['target'])} | {kind} #{number} "
        f"| {run['web_workers']} | {run['connections']} | {run['duration_s']} s "
        f"| {run['requests_per_s']:,.0f} | {events} "
        f"| {run['latency_ms']['p50']:.1f} ms | {run['latency_ms']['p99']:.1f} ms "
        f"| {refused or '0'} | {run['rows_created']:,} / {run['rows_expected']:,} "
        f"| {run.get('other_cpu_s', '?')} s |"
    )


def _target_label(name: str) -> str:
    return {"embedded": "SQLite + filesystem broker", "postgres": "PostgreSQL + Redis"}[name]


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    for package in ("django", "gunicorn", "psycopg", "redis"):
        found[f"{package} (package)"] = importlib.metadata.version(package)
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    found["wrk"] = (wrk.stdout or wrk.stderr).split("\n")[0].split(" [")[0]
    with contextlib.suppress(Exception):
        found["postgres"] = str(_pg_admin_value("SHOW server_version"))
    with contextlib.suppress(Exception):
        import redis

        info = redis.Redis.from_url(RATE_LIMIT_REDIS).info("server")
        found["redis"] = str(info["redis_version"])
    return found


def _pg_admin_value(sql: str) -> Any:
    import psycopg

    with psycopg.connect(PG_ADMIN) as conn:
        return conn.execute(sql).fetchone()[0]  # type: ignore[index]


def load_results(path: Path, append: bool) -> dict[str, Any]:
    """The results file to fill: a new one, or (append) the runs already in ``path``."""
    results: dict[str, Any] = {"invocations": [], "runs": [], "profiles": []}
    if append and path.exists():
        results = json.loads(path.read_text())
    results["invocations"].append(
        {
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "cores": os.cpu_count(),
            "versions": versions(),
        }
    )
    return results


def _save(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="+", choices=sorted(TARGETS), default=list(TARGETS))
    parser.add_argument("--rounds", type=int, default=1, help="each a fresh database per target")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn --workers")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=int, default=20, help="seconds of measured load")
    parser.add_argument("--warmup", type=int, default=3, help="seconds, figures discarded")
    parser.add_argument("--bulk-size", type=int, default=50, help="0: no bulk run")
    parser.add_argument("--limited-duration", type=int, default=10, help="0: no 429 run")
    parser.add_argument("--timeout", type=int, default=10, help="wrk --timeout, seconds")
    parser.add_argument("--wait-quiet", type=float, default=300, help="seconds, at most")
    parser.add_argument("--keep", action="store_true", help="keep databases and server logs")
    parser.add_argument("--profile", type=int, default=0, help="N requests in-process")
    parser.add_argument("--skip-load", action="store_true", help="only --profile")
    parser.add_argument("--child-profile", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--append", action="store_true", help="add to the runs in --json")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "api-load.json")
    args = parser.parse_args()
    for name in ("duration", "warmup", "limited_duration"):
        if not 0 <= getattr(args, name) <= MAX_LOAD_SECONDS:
            parser.error(f"--{name.replace('_', '-')} must be 0 to {MAX_LOAD_SECONDS} s")
    if args.duration < 1:
        parser.error("--duration must be at least 1 s")
    return args


def main() -> None:
    args = parse_args()
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the web processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.child_profile:
        print("RESULT " + json.dumps(child_profile(args.child_profile)))
        return
    if shutil.which("wrk") is None and not args.skip_load:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian's package)")
    results = load_results(args.json, args.append)
    invocation = len(results["invocations"])
    for round_no in range(1, 0 if args.skip_load else args.rounds + 1):
        for name in args.targets:
            print(f"{name}, round {round_no}", flush=True)
            runs = round_on(name, round_no, args)
            results["runs"].extend(run | {"invocation": invocation} for run in runs)
            _save(args.json, results)
    for name in args.targets if args.profile else []:
        print(f"{name}, in-process profile", flush=True)
        results["profiles"].append(
            profile_round(name, args.profile, args.wait_quiet) | {"invocation": invocation}
        )
        _save(args.json, results)
    print()
    print(markdown(results["runs"]))
    for profile in results["profiles"]:
        print(f"\n{profile['target']}: {json.dumps(profile, indent=1)}")
    print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
