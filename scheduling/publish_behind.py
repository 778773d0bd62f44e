"""A burst's batches published in a thread while the next batch is claimed.

A burst on PostgreSQL is claimed in batches, and each claim is mostly the
server's work (the rows, their index entries, the foreign keys checked at
commit) while the beat process waits; publishing a batch is mostly the beat
process's work (the messages) and then the server's again (marking them
sent). In turn, one waits for the other. Here one thread publishes the
batches, in the order they were claimed, on its own database connection,
while the caller claims the next: on two cores a 10,000-event burst in
``benchmarks/burst_inprocess.py`` was in the broker 13-30 % sooner than in turn
when the machine was quiet, and no sooner in a busier hour, when the claims
slowed down as much as the thread saved (``docs/benchmarks.md``).

Nothing of a claim changes: each batch is committed before it is handed
over, so a batch whose publishing fails, or that is never published because
beat died, keeps its lease and is published again when that lapses, as in
turn. At most two batches wait for the thread (one publishing, one handed
over); after a failure the thread publishes nothing more and the caller's
next ``put`` raises that failure.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType

from django.db import connections

from scheduling.services.occurrences import Dispatch

Batch = list[Dispatch]

_DONE = None


class PublishBehind:
    """Publish batches in one thread, in turn, while the caller goes on claiming.

    Used as a context manager: leaving it waits for every batch handed over
    (those already claimed are published, even when the caller leaves on an
    error) and raises the thread's failure, if any and the caller has none.
    """

    def __init__(self, publish: Callable[[Batch], None]) -> None:
        self._publish = publish
        # One handed over while one is published: the caller never runs
        # more than a batch ahead of the broker.
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="publish-behind", daemon=False)

    def __enter__(self) -> PublishBehind:
        self._thread.start()
        return self

    def put(self, batch: Batch) -> None:
        """Hand ``batch`` over; raise the thread's failure if publishing failed."""
        self._raise_failure()
        self._batches.put(batch)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._batches.put(_DONE)
        self._thread.join()
        if exc is None:
            self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            while (batch := self._batches.get()) is not _DONE:
                if self._failure is None:
                    try:
                        self._publish(batch)
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        # Whatever it is: a thread that stopped taking batches
                        # would leave the caller waiting on a full queue.
                        self._failure = exc
                # After a failure the batches still handed over are taken and
                # left: their claims' leases bring them back.
        finally:
            # The thread's own connection (Django's are per thread): closed
            # with it, not left for the garbage collector.
            connections.close_all()
