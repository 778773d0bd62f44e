"""The fault kinds of a chaos run: one function per kind, one registry line each.

Each fault runs for ``duration`` seconds while reminders keep falling due,
then puts things back; ``scripts/chaos.py`` records when it started and
ended, and measures the recovery from the database afterwards.

- ``broker-kill``: Redis SIGKILLed (with its queue and unacknowledged
  messages: no persistence) and started again on the same port; RabbitMQ
  refused at its proxy (connections reset, new ones refused).
- ``db-refuse``: PostgreSQL down: the proxy resets every connection and
  refuses new ones.
- ``db-blackhole``: PostgreSQL silent: connections stay open and nothing
  answers, as a frozen server or a stuck pooler.
- ``worker-kill``: handlers slowed down (each e-mail takes 0.3 to 1 s, see
  ``scripts/chaos_mail.py``) and, every second or two, a worker's pool
  children SIGKILLed (its main process survives and forks new ones) or the
  whole worker (then started again), so kills land inside handlers.

The random SIGKILL of beats and workers (``--kill-every``) and the backlog
(``--backlog``) are not phases: the first runs through the whole run, the
second is booked before it starts.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scripts.chaos_stack import Broker, Database

ROOT = Path(__file__).resolve().parents[1]
WORKER = ["worker", "-Q", "backend-events,celery", "--concurrency=2", "--loglevel=WARNING"]
BEAT = ["beat", "--loglevel=WARNING", "--pidfile="]
SLOW_MAIL = "0.3 1.0"
# Pool children are killed only in workers up for longer (see Fleet.kill_children).
YOUNG_WORKER_SECONDS = 8.0


class Fleet:
    """Two beats and two workers, each restartable under its name.

    Thread-safe: the random killer and a fault may kill at the same time. A
    process that exits without being killed by the run is recorded (it
    should never happen) and started again.
    """

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.kills: dict[str, int] = {}
        self.unexpected_exits: list[dict[str, object]] = []
        self._lock = threading.RLock()

    def start(self, name: str) -> None:
        args = BEAT if name.startswith("beat") else [*WORKER, f"--hostname={name}@%h"]
        log = (self.workdir / f"{name}.log").open("ab")
        with self._lock:
            self.started[name] = time.monotonic()
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "project", *args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str, what: str) -> None:
        """SIGKILL a process and its children (a prefork worker's) and start it again."""
        with self._lock:
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                self._exited(name, proc)
            proc.wait()
            self._count(what)
            self.start(name)

    def kill_children(self, name: str) -> int:
        """SIGKILL a worker's pool children only; return how many were killed.

        Not in a worker's first seconds: Celery exits ("Could not start worker
        processes") when its pool children die before its loop starts, which
        says nothing about the engine.
        """
        with self._lock:
            if time.monotonic() - self.started[name] < YOUNG_WORKER_SECONDS:
                return 0
            children = _children(self.procs[name].pid)
            for pid in children:
                _signal(pid, signal.SIGKILL)
            if children:
                self._count("pool_children", len(children))
            return len(children)

    def check(self) -> None:
        with self._lock:
            for name, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    self._exited(name, proc)
                    self.start(name)

    def _exited(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        at = time.strftime("%H:%M:%S")
        known = _known_crash(self.workdir / f"{name}.log")
        self.unexpected_exits.append(
            {"process": name, "returncode": proc.returncode, "at": at, "known": known}
        )
        print(f"!!! {name} exited by itself ({proc.returncode}) at {at}: {known}", flush=True)

    def _count(self, what: str, n: int = 1) -> None:
        self.kills[what] = self.kills.get(what, 0) + n

    def stop(self) -> None:
        with self._lock:
            for proc in self.procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


# Crashes of a library, not of the engine, that a run reports by name instead
# of failing on (docs/reliability.md, "What the runs found"): the text in the
# log's tail, and the name reported. Empty: the one seen (kombu's Redis channel
# close after a lost connection, "'NoneType' object has no attribute
# 'hostname'") is worked around in scheduling/redis_transport.py, so a run now
# fails if it comes back.
KNOWN_CRASHES: dict[str, str] = {}


def _known_crash(log: Path) -> str | None:
    """The known library crash at the end of ``log``, or None."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, log.stat().st_size - 50_000))
            tail = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    return next((name for text, name in KNOWN_CRASHES.items() if text in tail), None)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(p) for p in text.split()]


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        os.kill(pid, sig)


@dataclass
class Context:
    fleet: Fleet
    database: Database
    broker: Broker
    mail_delay: Path
    rng: random.Random
    log: Callable[[str], None] = print
    notes: list[str] = field(default_factory=list)


def broker_kill(ctx: Context, duration: float) -> None:
    ctx.broker.down()
    time.sleep(duration)
    ctx.broker.up()


def db_refuse(ctx: Context, duration: float) -> None:
    ctx.database.set_mode("refuse")
    time.sleep(duration)
    ctx.database.set_mode("pass")


def db_blackhole(ctx: Context, duration: float) -> None:
    ctx.database.set_mode("blackhole")
    time.sleep(duration)
    ctx.database.set_mode("pass")


def worker_kill(ctx: Context, duration: float) -> None:
    ctx.mail_delay.write_text(SLOW_MAIL)
    end = time.time() + duration
    try:
        # Let handlers get going (slow from now on) before the first kill.
        time.sleep(min(2.0, duration / 4))
        while time.time() < end:
            name = ctx.rng.choice(["worker-1", "worker-2"])
            if ctx.rng.random() < 0.7:
                ctx.log(f"killed {ctx.fleet.kill_children(name)} pool children of {name}")
            else:
                ctx.fleet.kill(name, "workers_mid_handler")
                ctx.log(f"killed {name} mid-handler")
            time.sleep(min(max(0.0, end - time.time()), ctx.rng.uniform(1.0, 2.5)))
    finally:
        ctx.mail_delay.write_text("0")


FAULTS: dict[str, Callable[[Context, float], None]] = {
    "broker-kill": broker_kill,
    "db-refuse": db_refuse,
    "db-blackhole": db_blackhole,
    "worker-kill": worker_kill,
}

# Seconds of fault when --fault-seconds does not say: (shortest, longest).
DURATIONS: dict[str, tuple[float, float]] = {
    "broker-kill": (10, 15),
    "db-refuse": (20, 20),
    "db-blackhole": (20, 45),
    "worker-kill": (20, 20),
}


def applicable(kind: str, *, database: str, broker: str) -> str | None:
    """Why ``kind`` cannot run on this stack, or None."""
    if kind.startswith("db-") and database != "postgres":
        return f"{kind} needs --database postgres (SQLite is a file: nothing to refuse)"
    if kind == "broker-kill" and broker == "filesystem":
        return "broker-kill needs a broker server (--broker redis or rabbitmq)"
    return None


class RandomKiller:
    """The random SIGKILL of a beat or a worker every ``every`` seconds, in a thread.

    The same thread looks every second for a process that exited by itself.
    """

    def __init__(self, fleet: Fleet, rng: random.Random, every: float) -> None:
        self.fleet = fleet
        self.rng = rng
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        next_kill = time.monotonic() + self.every
        while not self._stop.wait(1.0):
            self.fleet.check()
            if self.every > 0 and time.monotonic() >= next_kill:
                next_kill += self.every
                name = self.rng.choice(sorted(self.fleet.procs))
                self.fleet.kill(name, "random_" + name.split("-")[0] + "s")
                print(f"killed {name}", flush=True)
