"""PostgreSQL: what beat knows of the next firing, and the notices that keep it current.

Migration 0013's triggers send ``NOTIFY scheduling_next_run`` with the
earliest ``next_run_at`` each write to ``scheduling_scheduledevent`` set.
Beat listens on a connection of its own (Django closes and reopens its
connections between ticks) and keeps the earliest instant it knows in a
``DueWatch``: it asks the database only when that instant comes, when a notice
names a sooner one, or ``SCHEDULING_BEAT_RECHECK_SECONDS`` after it last
asked. A lost notice (a dropped connection, a pooler that does not pass
``LISTEN`` through) therefore delays a firing by at most that interval; it
never loses one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

# Must match the channel of migration 0013_notify_due_events.
CHANNEL = "scheduling_next_run"

# libpq options of Django's settings that also suit this connection: TLS, and
# the keepalives and timeouts that make a vanished server an error.
_LIBPQ_OPTIONS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
)

# Reconnects are tried after 1, 2, 4 ... seconds, at most this far apart.
MAX_BACKOFF = 30.0


class Listener:
    """``LISTEN`` on a dedicated psycopg connection, reconnected with backoff.

    ``ensure()`` connects when down and a retry is due; ``wait()`` blocks up to
    a timeout for notices. Every method that touches the connection may raise
    a psycopg error; the caller then calls ``lost()`` and polls meanwhile.
    """

    def __init__(self, settings_dict: dict[str, Any]) -> None:
        self.settings_dict = settings_dict
        self._conn: Any = None
        self._retry_at = 0.0
        self._backoff = 1.0

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def ensure(self) -> bool:
        """Connect and ``LISTEN`` if down and a retry is due; return True if it just did.

        A True answer means notices may have been missed until now: what the
        caller knows of the next firing must be read again.
        """
        if self._conn is not None or time.monotonic() < self._retry_at:
            return False
        conn = self._connect()
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        self._conn, self._backoff = conn, 1.0
        return True

    def _connect(self) -> Any:
        import psycopg

        db = self.settings_dict
        options = db.get("OPTIONS") or {}
        return psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
            connect_timeout=options.get("connect_timeout", 5),
            application_name="scheduling beat listener",
            **{k: options[k] for k in _LIBPQ_OPTIONS if k in options},
        )

    def wait(self, timeout: float) -> list[datetime]:
        """The instants notified within ``timeout`` seconds (returns at the first)."""
        instants: list[datetime] = []
        for stop_after, wait in ((1, max(0.0, timeout)), (None, 0.0)):
            for notice in self._conn.notifies(timeout=wait, stop_after=stop_after):
                instant = _instant(notice.payload)
                if instant is not None:
                    instants.append(instant)
            if instants:
                break
        return instants

    def lost(self) -> None:
        """Drop the connection; the next ``ensure()`` after the backoff reconnects."""
        self.close()
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self._conn.close()
            self._conn = None


def _instant(payload: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(payload), tz=UTC)
    except (ValueError, OverflowError, OSError):
        logger.warning("ignored a %s notice with payload %r", CHANNEL, payload[:40])
        return None


@dataclass
class DueWatch:
    """The earliest ``next_run_at`` beat knows, and when it must ask again anyway.

    ``known`` is False until a read made while listening, and again after
    anything that may have hidden a write (the listener lost, a failed tick).
    """

    recheck_seconds: float
    known: bool = False
    next_due: datetime | None = None
    recheck_at: float = 0.0

    def must_read(self, now: datetime) -> bool:
        """Whether the database must be asked: unknown, due, or the re-check has come."""
        if not self.known or time.monotonic() >= self.recheck_at:
            return True
        return self.next_due is not None and self.next_due <= now

    def due(self, now: datetime) -> bool:
        """Whether a firing known to this watch is due at ``now``."""
        return self.known and self.next_due is not None and self.next_due <= now

    def read(self, next_due: datetime | None) -> None:
        """Record what a read (made while listening) found."""
        self.known, self.next_due = True, next_due
        self.recheck_at = time.monotonic() + self.recheck_seconds

    def noticed(self, instants: list[datetime]) -> None:
        if instants and self.known:
            self.next_due = min(instants if self.next_due is None else [self.next_due, *instants])

    def forget(self) -> None:
        self.known = False

    def seconds_left(self, now: datetime) -> float:
        """Seconds until the next read is needed (0 if now)."""
        if not self.known:
            return 0.0
        left = self.recheck_at - time.monotonic()
        if self.next_due is not None:
            left = min(left, (self.next_due - now).total_seconds())
        return max(0.0, left)
