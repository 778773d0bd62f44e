"""A burst's fired beat rows deleted in a thread, while beat goes on ticking.

After a burst on PostgreSQL, the ``PeriodicTask`` and ``ClockedSchedule`` rows of
the one-offs it fired are deleted (``FiredBeatRows``, one transaction per claimed
batch): 14-19 ms a batch of 500, some 3 s after a burst of 100,000, in which beat,
deleting in its own loop, fired nothing that had come due meanwhile. Here one thread
at a time deletes them, on its own database connection, and beat's loop goes on.

Nothing waits for the thread: the rows it deletes are ones no event points at any
more, so a delete left undone delays nothing. A failure is the archive function's
to log; the rows it leaves (and those a dead beat left) start the thread again at
the next lapsed-lease sweep. Several beats each run one: their deletes take
batches the others have not locked. ``close`` stops it after the batch in hand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections

# The archive function: deletes until done or until keep_going() says stop.
Archive = Callable[[Callable[[], bool]], None]


class ArchiveBehind:
    """Run ``archive`` in a thread of its own, one run at a time."""

    def __init__(self, archive: Archive) -> None:
        self._archive = archive
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> bool:
        """Start a run unless one is going on (it takes what is left too); whether one started."""
        with self._lock:
            if self._stop.is_set() or self.running:
                return False
            self._thread = threading.Thread(target=self._run, name="archive-behind", daemon=True)
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the run going on, if any."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop after the batch in hand, and wait for it; no run starts after."""
        self._stop.set()
        self.join()

    def _run(self) -> None:
        try:
            self._archive(lambda: not self._stop.is_set())
        finally:
            # The thread's own connection (Django's are per thread).
            connections.close_all()
