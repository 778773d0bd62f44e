"""Start a real ``celery worker`` and ``celery beat`` against the test database.

They run as the Procfile runs them, on whatever ``DATABASE_URL`` and
``CELERY_BROKER_URL`` the test run uses: SQLite and the filesystem broker by
default, PostgreSQL and Redis, then PostgreSQL and RabbitMQ, in the later
passes of scripts/test.sh.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import OperationalError, connection

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _flush_outlasts_a_deadlock() -> Iterator[None]:
    """A test's closing flush is tried again when PostgreSQL breaks a deadlock with it.

    A module's processes (web, worker, beat) go on writing while each of its
    tests empties the database as it ends: TRUNCATE locks table after table,
    a process's transaction holds one of them and asks for another, and
    PostgreSQL cancels one of the two, here the flush. Only the flush is tried
    again: the processes' own transactions are their code's to handle.
    """
    operations = type(connection.ops)
    flush = operations.execute_sql_flush

    def execute_sql_flush(self: Any, sql_list: list[str]) -> None:
        for attempt in range(3):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if attempt == 2 or "deadlock detected" not in str(exc):
                    raise

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(operations, "execute_sql_flush", execute_sql_flush)
        yield


def subprocess_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


# The Procfile worker's queues.
QUEUES = ("backend-events", "celery")


def reset_broker() -> None:
    """Empty the run's broker: no message of an earlier test or run reaches this one.

    The filesystem broker needs nothing: each test's processes get a broker
    folder of their own (under their VAR_DIR).
    """
    if settings.BROKER_KIND == "redis":
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    elif settings.BROKER_KIND == "rabbitmq":
        _purge_queues(settings.CELERY_BROKER_URL)


def _purge_queues(url: str) -> None:
    from kombu import Connection

    with Connection(url) as conn:
        for queue in QUEUES:
            channel = conn.channel()
            try:
                channel.queue_purge(queue)
            except conn.channel_errors:
                pass  # never declared on this vhost yet: nothing to purge
            finally:
                conn.maybe_close_channel(channel)


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "VAR_DIR": str(workdir / "var"),
            # Metrics files of these processes only, in a folder a test can
            # scrape (the test run's own folder is inherited otherwise).
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "var" / "metrics"),
            "SCHEDULING_BEAT_POLL_SECONDS": "0.2",
            "SCHEDULING_RETRY_BACKOFF_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
            # E-mails as files the test can read.
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(workdir / "mail"),
        }

    @property
    def metrics_dir(self) -> Path:
        return self.workdir / "var" / "metrics"

    @property
    def mail_dir(self) -> Path:
        return self.workdir / "mail"

    def start(self, name: str, *celery_args: str) -> None:
        self.run(name, [sys.executable, "-m", "celery", "-A", "project", *celery_args])

    def start_web(self, port: int) -> str:
        """The Procfile's web process on 127.0.0.1:``port``; return its base URL."""
        self.run(
            "web",
            [
                *(sys.executable, "-m", "gunicorn", "project.wsgi"),
                *("--config", "python:project.gunicorn"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-"),
            ],
        )
        return f"http://127.0.0.1:{port}"

    def run(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        # A session of its own: kill_group() takes a prefork worker's children too.
        self.procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        self.procs[name].kill()
        self.procs[name].wait()

    def kill_group(self, name: str) -> None:
        """SIGKILL the process and its children (a worker's pool), as when a machine dies."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def logs(self) -> str:
        return "\n".join(
            f"----- {name} -----\n{(self.workdir / f'{name}.log').read_text(errors='replace')}"
            for name in self.procs
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL whatever is left after a moment.

        The tests are over: nothing depends on a graceful exit, and a worker's
        warm shutdown waits out its consumer's poll (7-9 s here), which was
        minutes of every test run.
        """
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 1.5
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # its pool's children too
                proc.wait()


WORKER_ARGS = (
    "worker",
    "-Q",
    ",".join(QUEUES),
    "--concurrency=2",
    "--loglevel=INFO",
    "--without-mingle",
    "--without-gossip",
)
BEAT_ARGS = ("beat", "--loglevel=INFO", "--pidfile=")


@pytest.fixture(scope="module")
def live_system(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    """A worker (the Procfile's queues) and a beat (the project's scheduler)."""
    with django_db_blocker.unblock():
        reset_broker()
        processes = Processes(tmp_path_factory.mktemp("live"))
        processes.start("worker", *WORKER_ARGS)
        processes.start("beat", *BEAT_ARGS)
        try:
            yield processes
        finally:
            processes.stop()
            # The module's last test emptied the database as it ended, while
            # these processes still ran: what they wrote since (a beat's
            # heartbeat: the next module's /health test saw a beat alive)
            # must not reach the next module's tests.
            call_command("flush", interactive=False, verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_web(processes: Processes, probe: str) -> str:
    """Start the web process and wait until ``probe`` (a path) answers 200; its base URL."""
    import httpx

    url = processes.start_web(free_port())

    def serving() -> bool:
        try:
            return httpx.get(f"{url}{probe}", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(processes, serving, timeout=30, what="the web process to serve")
    return url


def wait_until(
    processes: Processes, probe: Callable[[], Any], *, timeout: float = 45.0, what: str = ""
) -> Any:
    """Poll ``probe`` until it returns a truthy value; fail with the logs if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        for name, proc in processes.procs.items():
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                pytest.fail(f"{name} exited with {proc.returncode}\n{processes.logs()}")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{processes.logs()}")


@pytest.fixture
def wait_for(live_system: Processes) -> Callable[..., Any]:
    def wait(probe: Callable[[], Any], *, timeout: float = 45.0, what: str = "") -> Any:
        return wait_until(live_system, probe, timeout=timeout, what=what)

    return wait
