"""Which beat leads: a lock that one beat holds and that frees when it dies.

- SQLite (one machine): an exclusive ``flock`` on ``beat.lock`` beside the database. The
  kernel releases it when the holder's process dies, however it dies.
- PostgreSQL: a session advisory lock on a connection of its own. The server
  releases it when that session ends, which a dead process's does.

Standing-by beats try again on every tick (every ``SCHEDULING_BEAT_POLL_SECONDS``),
so the survivor takes over within a tick of the holder's death.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

# Any constant shared by all beats of a deployment: "beat" in ASCII.
ADVISORY_LOCK_KEY = 0x62656174


class BeatLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if free; return whether this process holds it."""

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        logger.info("beat lock acquired (%s): this beat is active", self.path)
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class PostgresAdvisoryLock:
    def __init__(self, settings_dict: dict[str, Any]) -> None:
        self.settings_dict = settings_dict
        self._conn: Any = None

    def acquire(self) -> bool:
        if self._conn is not None and self._alive():
            return True
        self.release()
        try:
            conn = self._connect()
            held = conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY]).fetchone()[
                0
            ]
        except Exception:
            logger.exception("beat lock: PostgreSQL unreachable")
            return False
        if not held:
            conn.close()
            return False
        self._conn = conn
        logger.info("beat lock acquired (advisory lock %s): this beat is active", ADVISORY_LOCK_KEY)
        return True

    def _connect(self) -> Any:
        import psycopg

        db = self.settings_dict
        return psycopg.connect(
            host=db["HOST"] or None,
            port=db["PORT"] or None,
            user=db["USER"] or None,
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
            connect_timeout=5,
        )

    def _alive(self) -> bool:
        try:
            self._conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - a broken session has lost the lock
            logger.warning("beat lock: lost the session holding the advisory lock")
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                self._conn.close()
            self._conn = None


def lock_for(settings_dict: dict[str, Any], lock_dir: Path | str | None) -> BeatLock:
    """The lock that suits the database: advisory on PostgreSQL, a file otherwise.

    The file is ``beat.lock`` in ``lock_dir``, by default beside the SQLite
    database: every beat of one database finds the same file.
    """
    if settings_dict["ENGINE"].endswith("postgresql"):
        return PostgresAdvisoryLock(settings_dict)
    folder = Path(lock_dir) if lock_dir else Path(str(settings_dict["NAME"])).parent
    return FileLock(folder / "beat.lock")
