"""Leases: every unfinished occurrence has a holder that answers for it, until a deadline.

A firing can be lost between any two processes: beat dies after committing a
claim and before publishing it, the broker loses a message, a worker dies in
the middle of a handler (on the filesystem broker its message is gone for
good; on Redis it comes back only after the visibility timeout), or the
worker cannot record the outcome because the database blinked. Rather than
one recovery path per failure, each unfinished state carries
``lease_expires_at``::

    claimed   beat, until it has published (seconds)
    sent      the broker, until a worker starts it (SCHEDULING_SENT_REPUBLISH_SECONDS,
              doubled at each republish)
    running   the worker, renewed while the handler runs (SCHEDULING_OCCURRENCE_LEASE_SECONDS)
    retrying  the retry's backoff, plus a lease

Past its deadline beat publishes the occurrence again, with the same task id,
and puts it back to ``sent``. The worker's start is a conditional update
that refuses an occurrence another worker holds, so a copy that was not lost
after all never runs beside the original.

A ``sent`` occurrence is published again only when the event queue is empty:
while messages wait in a busy queue, one of them may be this occurrence's,
and publishing again would add to the backlog it is stuck in.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType

from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection
from django.db.models import Q
from django.utils import timezone

from scheduling.index_order import read_in_index_order
from scheduling.models import Occurrence, OccurrenceStatus

logger = logging.getLogger(__name__)

# A claim is published within a second of its commit; one left longer was
# left by a beat that died in between.
CLAIM_LEASE = timedelta(seconds=15)
# The longest wait before a lost message is published again, however often.
MAX_SENT_LEASE = timedelta(hours=1)

# States beat takes back when their lease lapses without asking the broker.
_HELD_BY_A_PROCESS = (OccurrenceStatus.CLAIMED, OccurrenceStatus.RUNNING, OccurrenceStatus.RETRYING)


@dataclass(frozen=True)
class Lapsed:
    """An occurrence to publish again, and the lease it was seen with."""

    event_id: str
    occurrence_id: str
    task_id: str
    lease_expires_at: datetime
    republish_count: int
    # Held by the broker: published again only when the event queue is empty.
    sent: bool = False


def worker_lease() -> timedelta:
    return timedelta(seconds=settings.SCHEDULING_OCCURRENCE_LEASE_SECONDS)


def sent_lease(republish_count: int) -> timedelta:
    """How long a published message may wait before it counts as lost."""
    base = timedelta(seconds=settings.SCHEDULING_SENT_REPUBLISH_SECONDS)
    return min(MAX_SENT_LEASE, base * 2 ** min(republish_count, 16))


def lapsed(*, now: datetime, include_sent: bool, limit: int) -> list[Lapsed]:
    """Unfinished occurrences whose holder let the lease lapse, oldest lease first.

    Read down ``occurrence_lease_idx`` (``scheduling.index_order``): the
    planner's guess of how many have lapsed is the square of the share
    unfinished, and below ``limit`` it sorted every lapsed row.
    """
    statuses = [*_HELD_BY_A_PROCESS, OccurrenceStatus.SENT] if include_sent else _HELD_BY_A_PROCESS
    with read_in_index_order():
        rows = list(
            Occurrence.objects.filter(status__in=statuses, lease_expires_at__lt=now)
            .order_by("lease_expires_at")
            .values_list(
                "event_id", "pk", "task_id", "lease_expires_at", "republish_count", "status"
            )[:limit]
        )
    # The filter excludes a NULL lease; the types of values_list cannot know it.
    return [
        Lapsed(str(e), str(pk), task, lease, count, sent=status == OccurrenceStatus.SENT)
        for e, pk, task, lease, count, status in rows
        if lease is not None
    ]


def mark_republished(rows: list[Lapsed], *, now: datetime) -> int:
    """Record that ``rows`` were published again; return how many were still lapsed.

    Each row is updated only if its lease is the one beat saw: a worker that
    started it in the meantime keeps it.
    """
    updated = 0
    for row in rows:
        count = row.republish_count + 1
        updated += Occurrence.objects.filter(
            pk=row.occurrence_id, lease_expires_at=row.lease_expires_at
        ).update(
            status=OccurrenceStatus.SENT,
            sent_at=now,
            republish_count=count,
            lease_expires_at=now + sent_lease(count),
        )
    return updated


def renew(occurrence_id: str, *, attempt: int, now: datetime) -> bool:
    """Extend a running occurrence's lease; False if this attempt no longer holds it."""
    return bool(
        Occurrence.objects.filter(
            pk=occurrence_id, status=OccurrenceStatus.RUNNING, attempts=attempt
        ).update(lease_expires_at=now + worker_lease())
    )


def startable(now: datetime) -> Q:
    """Occurrences a worker may start: not finished, and held by nobody alive.

    A ``running`` occurrence with a live lease is another worker's (a message
    delivered twice); one whose lease lapsed was left by a dead worker.
    """
    free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    waiting = (OccurrenceStatus.CLAIMED, OccurrenceStatus.SENT, OccurrenceStatus.RETRYING)
    return Q(status__in=waiting) | (Q(status=OccurrenceStatus.RUNNING) & free)


class KeptLease:
    """Renew a running occurrence's lease from a thread while the handler runs.

    The thread has its own database connection and closes it when it stops.
    A failed renewal is logged and tried again at the next beat of the
    thread: if the database stays away longer than the lease, beat takes
    the occurrence back, which is the intended outcome for a worker that
    can no longer reach the database.
    """

    def __init__(self, occurrence_id: str, *, attempt: int) -> None:
        self.occurrence_id = occurrence_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{occurrence_id}", daemon=True
        )

    def __enter__(self) -> KeptLease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        every = worker_lease().total_seconds() / 3
        try:
            while not self._stop.wait(every):
                try:
                    if not renew(self.occurrence_id, attempt=self.attempt, now=timezone.now()):
                        return  # taken back by beat, or finished
                except (DatabaseError, InterfaceError) as exc:
                    logger.warning(
                        "lease of occurrence %s not renewed: %s", self.occurrence_id, exc
                    )
                    connection.close()
        finally:
            connection.close()
