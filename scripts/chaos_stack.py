"""The stores a chaos run uses, and the knobs its faults turn.

A stack is a database (``postgres`` or ``sqlite``) and a broker (``redis``,
``rabbitmq`` or ``filesystem``). Everything the run breaks is its own:

- PostgreSQL: a database ``chaos_<name>`` on TEST_POSTGRES_URL's server,
  reached by the processes through a ``scripts/faultproxy.py`` proxy (so the
  run can refuse or black-hole it); the chaos script itself connects directly.
- Redis: a private ``redis-server`` on a free port, no persistence, which the
  run SIGKILLs and starts again on the same port (its queue is lost).
- RabbitMQ: starting a private node is heavy, so the shared server on
  127.0.0.1:5672 is used with a vhost of the run's own (``chaos_<name>``),
  behind a fault proxy: ``refuse`` is the broker down (connections reset,
  new ones refused). Unlike the Redis kill, the server keeps its durable
  queue, as a restarted RabbitMQ node does.
- SQLite and the filesystem broker: files under the run's folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
RABBIT_SERVER = ("127.0.0.1", 5672)
DATABASES = ("postgres", "sqlite")
BROKERS = ("redis", "rabbitmq", "filesystem")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, *, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout} s")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Proxy:
    """``scripts/faultproxy.py`` as a process, switched through its control file."""

    def __init__(self, target: tuple[str, int], workdir: Path, name: str) -> None:
        self.port = free_port()
        self.control = workdir / f"{name}.mode"
        self.control.write_text("pass\n")
        log = (workdir / f"{name}.log").open("ab")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "scripts" / "faultproxy.py")),
                *(f"{target[0]}:{target[1]}", "--listen", f"127.0.0.1:{self.port}"),
                *("--control", str(self.control)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port)

    def set_mode(self, mode: str) -> None:
        self.control.write_text(f"{mode}\n")
        time.sleep(0.5)  # the proxy reads the file every 0.2 s

    def close(self) -> None:
        _stop(self.proc)


class Database:
    def __init__(self, kind: str, name: str, workdir: Path, *, faulty: bool) -> None:
        self.kind = kind
        self.workdir = workdir
        self.proxy: Proxy | None = None
        if kind == "sqlite":
            self.direct_url = f"sqlite:///{workdir / 'var' / 'chaos.sqlite3'}"
            self.process_url = self.direct_url
            return
        import dj_database_url

        self.name = f"chaos_{name}"
        self.server = dj_database_url.parse(PG_SERVER)
        self.direct_url = PG_SERVER.rsplit("/", 1)[0] + f"/{self.name}"
        self.process_url = self.direct_url
        if faulty:
            host, port = str(self.server["HOST"]), int(self.server["PORT"] or 5432)
            self.proxy = Proxy((host, port), workdir, "pg-proxy")
            self.process_url = self.direct_url.replace(f":{port}/", f":{self.proxy.port}/")

    def reset(self) -> None:
        if self.kind == "sqlite":
            return  # the run's folder was emptied
        import psycopg

        admin = PG_SERVER.replace("postgres://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def set_mode(self, mode: str) -> None:
        if self.proxy is None:
            raise RuntimeError("database faults need --database postgres")
        self.proxy.set_mode(mode)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()


class Broker:
    def __init__(self, kind: str, name: str, workdir: Path) -> None:
        self.kind = kind
        self.workdir = workdir
        self.redis: subprocess.Popen[bytes] | None = None
        self.proxy: Proxy | None = None
        self.vhost = f"chaos_{name}"
        if kind == "redis":
            self.port = free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
        elif kind == "rabbitmq":
            self.proxy = Proxy(RABBIT_SERVER, workdir, "amqp-proxy")
            self.url = f"amqp://guest:guest@127.0.0.1:{self.proxy.port}/{self.vhost}"
        else:
            self.url = "filesystem://"

    def reset(self) -> None:
        if self.kind == "redis":
            self.start_redis()
        elif self.kind == "rabbitmq":
            _rabbitmqctl("delete_vhost", self.vhost, check=False)
            _rabbitmqctl("add_vhost", self.vhost)
            _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    def start_redis(self) -> None:
        log = (self.workdir / "redis.log").open("ab")
        self.redis = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_port(self.port)

    def down(self) -> None:
        """The broker goes away: Redis SIGKILLed (its data with it), RabbitMQ refused."""
        if self.kind == "redis":
            assert self.redis is not None
            self.redis.send_signal(signal.SIGKILL)
            self.redis.wait()
        elif self.proxy is not None:
            self.proxy.set_mode("refuse")
        else:
            raise RuntimeError("the filesystem broker has no server to kill")

    def up(self) -> None:
        if self.kind == "redis":
            self.start_redis()
        elif self.proxy is not None:
            self.proxy.set_mode("pass")

    def close(self) -> None:
        _stop(self.redis)
        if self.proxy is not None:
            self.proxy.close()


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True, timeout=60)


def empty_workdir(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "var").mkdir(parents=True)
    (workdir / "mail").mkdir()
