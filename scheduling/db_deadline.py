"""A deadline on this thread's database work, for code that must answer in time.

PostgreSQL's ``statement_timeout`` cancels a slow statement, and TCP
keepalives and ``tcp_user_timeout`` drop a connection whose packets vanish
(see README.md, "Configuration"). Neither ends the wait when the peer takes
every byte and never answers: a frozen server, a stuck pooler or proxy, a
filter in front of a live kernel. libpq then waits for ever, and a web
request hangs until gunicorn kills its worker.

Inside ``database_deadline(seconds)``, a watchdog thread shuts the socket of
this thread's connection down once the block has run ``seconds``: the call
waiting on the database fails at once with ``DatabaseTimeoutError`` (an
``OperationalError``), and so does any later call on that connection. Django
drops the broken connection at the end of the request. The server may have
run the statement, or committed, by then: a deadline cannot tell, like any
client timeout (API clients retry with an idempotency key).

A connect in progress is not cut (psycopg bounds it by ``connect_timeout``),
so a block on a silent database can last ``seconds`` plus that timeout when
Django reconnects within it (``CONN_HEALTH_CHECKS`` does after a failed
check).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

# After a deadline, the block's connection is cut again this often until the
# block ends: a connection made after the first cut is bounded too.
RECHECK_SECONDS = 0.25


class DatabaseTimeoutError(OperationalError):
    """The database did not answer within the deadline; the connection was cut."""


@contextmanager
def database_deadline(seconds: float, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Bound the block's database work on ``using`` to ``seconds`` (0 or less: unbounded).

    Only PostgreSQL connections are cut: SQLite is a local file, with no
    network to go silent.
    """
    wrapper = connections[using]
    if seconds <= 0 or wrapper.vendor != "postgresql":
        yield
        return
    arm = _watchdog.arm(wrapper, seconds)
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        if arm.fired and not isinstance(exc, DatabaseTimeoutError):
            raise DatabaseTimeoutError(
                f"no answer from the database within its {seconds:g} s deadline"
            ) from exc
        raise
    finally:
        _watchdog.disarm(arm)


@dataclass(eq=False)
class _Arm:
    wrapper: BaseDatabaseWrapper
    due: float
    fired: bool = False


class _Watchdog:
    """One thread per process that cuts the connections of blocks past their deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: set[_Arm] = set()
        self._thread: threading.Thread | None = None
        self._wakes_at: float | None = None  # None: asleep until notified

    def after_fork(self) -> None:
        # A forked child (gunicorn --preload) has none of the parent's
        # threads, and maybe a lock held by one of them.
        self._cond = threading.Condition()
        self._armed = set()
        self._thread = None
        self._wakes_at = None

    def arm(self, wrapper: BaseDatabaseWrapper, seconds: float) -> _Arm:
        arm = _Arm(wrapper, time.monotonic() + seconds)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadline", daemon=True)
                self._thread.start()
            self._armed.add(arm)
            # Woken only if it would sleep past this deadline: requests one
            # after another cost no wake-up each.
            if self._wakes_at is None or arm.due < self._wakes_at:
                self._cond.notify()
        return arm

    def disarm(self, arm: _Arm) -> None:
        # Under the lock: once this returns, the watchdog is not cutting, and
        # will never cut, this block's connection (whatever it becomes next).
        with self._cond:
            self._armed.discard(arm)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for arm in [a for a in self._armed if a.due <= now]:
                    arm.fired = True
                    arm.due = now + RECHECK_SECONDS
                    _cut(arm.wrapper)
                self._wakes_at = min((a.due for a in self._armed), default=None)
                self._cond.wait(None if self._wakes_at is None else self._wakes_at - now)


def _cut(wrapper: BaseDatabaseWrapper) -> None:
    """Shut down the socket of ``wrapper``'s open connection, if it has one."""
    raw = wrapper.connection
    if raw is None or raw.closed:
        return
    try:
        fd = os.dup(raw.fileno())
    except (OSError, wrapper.Database.Error):  # type: ignore[attr-defined]
        return  # closed meanwhile
    with socket.socket(fileno=fd) as sock:
        # The owner may have closed the connection between fileno() and dup(),
        # and the number been given to another socket: then the connection
        # reads closed now, and that other socket is left alone. (A window of
        # the C code dropping the socket before marking the connection bad is
        # not closed by this; it is microseconds wide.)
        if not raw.closed:
            with contextlib.suppress(OSError):  # already shut down, or reset by the peer
                sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()
os.register_at_fork(after_in_child=_watchdog.after_fork)
