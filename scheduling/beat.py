"""The project's beat scheduler: events fire from an index, not from a reload.

Stock ``DatabaseScheduler`` keeps every enabled ``PeriodicTask`` in memory
and reloads all of them whenever any row changes. Events are different:
each has an indexed ``next_run_at``, so each tick asks the database only
"what is due now?", claims those firings (an ``Occurrence`` row each,
committed before publishing) and publishes them all, in batches. Other
periodic tasks (``celery.backend_cleanup``, anything added by hand in the
admin) keep the stock behaviour, with event rows left out of the reload.

On SQLite beat polls: it sleeps at most ``SCHEDULING_BEAT_POLL_SECONDS``,
so an event inserted while it sleeps waits no longer than that. On
PostgreSQL it listens instead (``scheduling.listener``): it keeps the
earliest ``next_run_at`` in memory, waits on the notices of migration 0013's
triggers, and asks the database only when that instant comes, when a notice
names a sooner one, or every ``SCHEDULING_BEAT_RECHECK_SECONDS`` (what covers
a lost notice); an idle tick reads nothing. While the listening connection is
down it polls as on SQLite. Every
``SCHEDULING_BEAT_HEARTBEAT_SECONDS`` it records that it ticks (a
``BeatHeartbeat`` row, read by ``GET /health``). Every few seconds it
publishes again the occurrences whose lease lapsed
(``scheduling.services.leases``).

Beat never dies of an outage: whatever a tick raises (database, broker, a
publish batch of uncertain delivery) is logged once per outage and the tick
is tried again; claims already committed are published when it is back. A
beat started while the database is away waits for it too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from scheduling import metrics, selectors
from scheduling.archive_behind import ArchiveBehind
from scheduling.broker import QueueDepth
from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME
from scheduling.leader import BeatLock, lock_for
from scheduling.listener import DueWatch, Listener
from scheduling.publish_behind import PublishBehind
from scheduling.services import heartbeats, leases, occurrences
from scheduling.services.publishing import publish

logger = logging.getLogger(__name__)

# How often beat looks for occurrences whose lease lapsed.
RECOVERY_EVERY = timedelta(seconds=5)


class _Outage:
    """Log a failure once when it starts and once when it ends, not every tick."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: datetime | None = None
        self.failures = 0

    def failed(self, exc: BaseException, *, retry_in: float) -> None:
        self.failures += 1
        if self.since is None:
            self.since = timezone.now()
            logger.error(
                "%s failed; retrying every %.1f s until it works", self.what, retry_in, exc_info=exc
            )
        else:
            logger.debug("%s still failing: %r", self.what, exc)

    def succeeded(self) -> None:
        if self.since is not None:
            down = (timezone.now() - self.since).total_seconds()
            logger.warning(
                "%s works again after %.1f s (%d failed tries)", self.what, down, self.failures
            )
            self.since, self.failures = None, 0


class _AlwaysLeader:
    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class EventScheduler(DatabaseScheduler):
    """``DatabaseScheduler`` that dispatches events from ``next_run_at``.

    Several beats may run. The one holding the beat lock (``scheduling.leader``)
    runs the stock periodic tasks; events are claimed by every beat on
    PostgreSQL (row locks keep their claims disjoint) and by the lock holder
    only on SQLite, where the others stand by.
    """

    _last_recovery: datetime | None = None
    # The stock schedule was read (a database outage at start leaves it to a tick).
    _stock_ready = False
    # The last heartbeat attempt, successful or not, and the role it recorded.
    _last_heartbeat: datetime | None = None
    _heartbeat_leader: bool | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = self._make_lock()
        self.claims_without_lock = connection.vendor == "postgresql"
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = timezone.now()
        self._dispatch_outage = _Outage("event dispatch")
        self._stock_outage = _Outage("periodic tasks tick")
        self._listen_outage = _Outage("listening for due events")
        self.listener = self._make_listener()
        self.watch = DueWatch(recheck_seconds=settings.SCHEDULING_BEAT_RECHECK_SECONDS)
        # Monotonic instant of the next stock tick while listening.
        self._stock_at = 0.0
        # Bursts' fired beat rows, deleted off the loop (scheduling.archive_behind).
        self.archiver = ArchiveBehind(self._archive_fired)
        super().__init__(*args, **kwargs)
        self.queue_depth = QueueDepth(self.app, EVENT_QUEUE)

    @staticmethod
    def _make_lock() -> BeatLock | _AlwaysLeader:
        if not settings.SCHEDULING_BEAT_LOCK:
            return _AlwaysLeader()
        return lock_for(connection.settings_dict, settings.SCHEDULING_LOCK_DIR)

    @staticmethod
    def _make_listener() -> Listener | None:
        if connection.vendor != "postgresql" or not settings.SCHEDULING_BEAT_LISTEN:
            return None
        return Listener(connection.settings_dict)

    @property
    def listening(self) -> bool:
        return self.listener is not None and self.listener.listening

    def close(self) -> None:
        self.archiver.close()
        if self.listener is not None:
            self.listener.close()
        self.lock.release()
        self.queue_depth.close()
        super().close()

    def enabled_models_qs(self) -> QuerySet[PeriodicTask]:
        """The periodic tasks that are not events: few, so all of them.

        Event rows are dispatched by dispatch_events(); loading them too
        would fire them twice and make every reload O(all events). Two
        ranges rather than a NOT: the index on ``task`` (migration 0004)
        then reads only the other rows. The stock query's own filters are
        left out on purpose: built for tables of many tasks, its crontab
        filter makes one CASE branch per crontab row (its DISTINCT keeps
        the model's ordering columns), which took 3 s and 80 MB at 100,000
        events here.
        """
        others = Q(task__lt=EVENT_TASK_NAME) | Q(task__gt=EVENT_TASK_NAME)
        return self.Model.objects.enabled().filter(others)

    def setup_schedule(self) -> None:
        """Set up the stock schedule, or leave it to a tick if the database is away.

        The stock constructor calls this, and it reads the periodic tasks: a
        beat (re)started during a database outage died there, before any
        outage-proof tick (found by scripts/chaos.py). The stock tick sets
        the schedule up once the database answers.
        """
        try:
            self._setup_stock_schedule()
        except (DatabaseError, InterfaceError) as exc:
            self._stock_outage.failed(exc, retry_in=settings.SCHEDULING_BEAT_POLL_SECONDS)
            self._drop_connections()

    def _setup_stock_schedule(self) -> None:
        # A failed try has cleared the stock "first read" flag without reading.
        self._initial_read = True
        super().setup_schedule()
        self._stock_ready = True

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass, then (while listening) the wait for the next: return the sleep left.

        Celery's loop sleeps what this returns. While listening, the wait is
        spent here, on the listening socket instead, so that a notice of a
        sooner firing ends it; 0 is returned and the loop ticks again at once.
        The wait never exceeds ``max_interval`` (``beat_max_loop_interval``),
        the tick age that celery's remote control calls stale.
        """
        wait = self.tick_once(*args, **kwargs)
        if not self.listening:
            return wait
        self._await_notices(min(wait, self.max_interval))
        # Celery's loop syncs the stock schedule only after a sleep of its own.
        if self.should_sync():
            self._do_sync()
        return 0.0

    def tick_once(self, *args: Any, **kwargs: Any) -> float:
        """Dispatch what is due, heartbeat, stock tasks; return seconds until the next pass."""
        poll = settings.SCHEDULING_BEAT_POLL_SECONDS
        with metrics.BEAT_TICK.time():
            self._ensure_listening()
            leader = self.lock.acquire()
            metrics.BEAT_LEADER.labels(instance=self.instance).set(int(leader))
            event_wait = self.dispatch_events() if leader or self.claims_without_lock else poll
            self._record_heartbeat(leader)
            stock_wait = self._stock_tick(*args, **kwargs) if leader else poll
        return min(event_wait, stock_wait)

    def _ensure_listening(self) -> None:
        """(Re)connect the listener when it is down and a retry is due.

        Before any read of the tick: a write committed after LISTEN reaches
        this beat as a notice, one committed before it is seen by the read.
        """
        if self.listener is None:
            return
        try:
            fresh = self.listener.ensure()
        except Exception as exc:  # noqa: BLE001 - polling covers a listener down
            self._listener_lost(exc)
            return
        if fresh:
            self.watch.forget()
            self._listen_outage.succeeded()

    def _await_notices(self, timeout: float) -> None:
        assert self.listener is not None
        try:
            self.watch.noticed(self.listener.wait(timeout))
        except Exception as exc:  # noqa: BLE001 - polling covers a listener down
            self._listener_lost(exc)

    def _listener_lost(self, exc: BaseException) -> None:
        assert self.listener is not None
        self.listener.lost()
        self.watch.forget()
        self._listen_outage.failed(exc, retry_in=settings.SCHEDULING_BEAT_POLL_SECONDS)

    def _stock_tick(self, *args: Any, **kwargs: Any) -> float:
        """The stock scheduler's tick for the other periodic tasks, outage-proof."""
        poll = settings.SCHEDULING_BEAT_POLL_SECONDS
        # The stock tick (a read of PeriodicTasks.last_update each call) runs
        # only when it asked to, as stock beat's own loop does, though beat
        # ticks more often for events: half of an idle tick on SQLite, and
        # nothing read at all while listening.
        # Until the stock schedule is set up (a database away at start), every
        # tick tries again.
        left = self._stock_at - time.monotonic()
        if self._stock_ready and left > 0:
            return left
        try:
            if not self._stock_ready:
                self._setup_stock_schedule()
            wait = float(super().tick(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - beat must outlive any outage
            self._stock_outage.failed(exc, retry_in=poll)
            self._stock_at = time.monotonic() + poll
            return poll
        self._stock_outage.succeeded()
        self._stock_at = time.monotonic() + wait
        return wait

    def _record_heartbeat(self, leader: bool) -> None:
        """Upsert this beat's heartbeat if the last is older than the interval.

        Ticks come up to four times a second and must stay cheap: one write every
        few seconds is enough for a health check measured in tens of seconds.
        A change of role is written at once, so a standby that takes over
        shows as leader within a tick. Never raises: a database down must not
        stop beat, which catches up by itself once it is back.
        """
        now = timezone.now()
        last = self._last_heartbeat
        interval = timedelta(seconds=settings.SCHEDULING_BEAT_HEARTBEAT_SECONDS)
        # A clock stepped back (now before last) counts as due, or beat would
        # look dead until the clock caught up.
        recent = last is not None and timedelta(0) <= now - last < interval
        if recent and leader == self._heartbeat_leader:
            return
        # Set before writing: a failing database is retried once per interval,
        # not on every tick.
        self._last_heartbeat, self._heartbeat_leader = now, leader
        try:
            close_old_connections()
            heartbeats.record_beat_tick(
                instance=self.instance, started_at=self.started_at, is_leader=leader, now=now
            )
        except (DatabaseError, InterfaceError) as exc:
            # One line: dispatch_events already logs the traceback of an outage.
            logger.warning("beat heartbeat not recorded (%s); next try in %s", exc, interval)

    def dispatch_events(self) -> float:
        """Publish every due event; return seconds until the next check."""
        poll = settings.SCHEDULING_BEAT_POLL_SECONDS
        listening = self.listening
        try:
            close_old_connections()
            now = timezone.now()
            self._recover_lapsed(now)
            if listening and not self.watch.must_read(now):
                return self._listening_wait(now)
            # One indexed read when nothing is due; a claim (a write
            # transaction) only when something is. A notice that named an
            # instant now past makes the read needless: claim at once.
            known_due = listening and self.watch.due(now)
            next_due = None if known_due else selectors.next_due_at()
            if known_due or (next_due is not None and next_due <= now):
                self._dispatch_due(now)
                next_due = selectors.next_due_at()
        except Exception as exc:  # noqa: BLE001 - beat must outlive any outage
            # Database or broker away, or a publish batch whose delivery is
            # uncertain: the claims already committed keep their lease and
            # are published again once it lapses.
            self._dispatch_outage.failed(exc, retry_in=poll)
            self._drop_connections()
            self.watch.forget()
            return poll
        self._dispatch_outage.succeeded()
        if listening:
            self.watch.read(next_due)
            return self._listening_wait(timezone.now())
        if next_due is None:
            return poll
        return max(0.0, min(poll, (next_due - timezone.now()).total_seconds()))

    def _listening_wait(self, now: datetime) -> float:
        """Seconds until the next read, lapsed-lease sweep or heartbeat is due."""
        waits = [self.watch.seconds_left(now)]
        for last, every in (
            (self._last_recovery, RECOVERY_EVERY),
            (self._last_heartbeat, timedelta(seconds=settings.SCHEDULING_BEAT_HEARTBEAT_SECONDS)),
        ):
            if last is not None:
                waits.append((last + every - now).total_seconds())
        return max(0.0, min(waits))

    @staticmethod
    def _drop_connections() -> None:
        # A broken database connection is replaced on next use. The producer
        # needs nothing: Celery's publish retries reconnect it.
        with contextlib.suppress(DatabaseError, InterfaceError):
            connection.close()

    def _dispatch_due(self, now: datetime) -> None:
        batch_size = settings.SCHEDULING_BEAT_BATCH_SIZE
        first = occurrences.claim_due_occurrences(now=now, limit=batch_size)
        if len(first) == batch_size and connection.vendor == "postgresql":
            # A burst: each batch published while the next is claimed
            # (scheduling.publish_behind). Not on SQLite, whose one writer at
            # a time would make the claims and the thread's marks wait for
            # each other, nor for a tick with less than a batch due. Its
            # fired one-offs' beat rows are deleted once it is all published,
            # off the claims' path (FiredBeatRows), and off beat's loop.
            with PublishBehind(self._publish) as behind:
                self._claim_rest(first, now=now, publish=behind.put, archive_later=True)
            self.archiver.start()
        else:
            self._claim_rest(first, now=now, publish=self._publish)

    @staticmethod
    def _claim_rest(
        batch: list[occurrences.Dispatch],
        *,
        now: datetime,
        publish: Callable[[list[occurrences.Dispatch]], None],
        archive_later: bool = False,
    ) -> None:
        """Publish ``batch``, then claim and publish the next until a batch comes short."""
        batch_size = settings.SCHEDULING_BEAT_BATCH_SIZE
        publish(batch)
        while len(batch) == batch_size:
            batch = occurrences.claim_due_occurrences(
                now=now, limit=batch_size, archive_later=archive_later
            )
            publish(batch)

    @staticmethod
    def _archive_fired(keep_going: Callable[[], bool]) -> None:
        """Delete the beat rows that bursts left to archive: this beat's, or a dead beat's.

        In the archiver's thread. A failure is logged and left to the next
        sweep: neither the firings (published already) nor the recovery of
        lapsed ones wait on it.
        """
        try:
            archived = occurrences.archive_fired_beat_rows(keep_going)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("fired one-offs' beat rows not deleted yet (%s); next sweep", exc)
            return
        if archived:
            logger.info("deleted the beat rows of %d fired one-offs", archived)

    def _recover_lapsed(self, now: datetime) -> None:
        """Every few seconds: publish again what lapsed, then delete bursts' leftover beat rows."""
        last = self._last_recovery
        if last is not None and timedelta(0) <= now - last < RECOVERY_EVERY:
            return
        self._last_recovery = now
        self._republish_lapsed(now)
        self._archive_leftovers()

    def _archive_leftovers(self) -> None:
        """Start the archiver for beat rows a burst left, this beat's or a dead beat's.

        One query on the loop when none are left; a failure to ask is logged
        and left to the next sweep, as a failure to delete is.
        """
        if self.archiver.running:
            return
        try:
            left = selectors.fired_beat_rows_left()
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("fired one-offs' beat rows not looked for (%s); next sweep", exc)
            return
        if left:
            self.archiver.start()

    def _republish_lapsed(self, now: datetime) -> None:
        """Publish again the occurrences whose holder let the lease lapse."""
        limit = settings.SCHEDULING_BEAT_BATCH_SIZE
        rows = leases.lapsed(now=now, include_sent=True, limit=limit)
        # A message may wait in a busy queue: never publish a copy then. The
        # broker is asked only when a sent occurrence lapsed, not every sweep.
        if any(r.sent for r in rows) and self.queue_depth() != 0:
            rows = leases.lapsed(now=now, include_sent=False, limit=limit)
        if not rows:
            return
        dispatches = [occurrences.Dispatch(r.event_id, r.occurrence_id, r.task_id) for r in rows]
        publish(dispatches, app=self.app, producer=self.producer, mark=False)
        taken = leases.mark_republished(rows, now=timezone.now())
        metrics.REPUBLISHED.inc(len(rows))
        logger.warning(
            "published again %d occurrences whose lease lapsed (%d still lapsed), first %s",
            len(rows),
            taken,
            ", ".join(r.occurrence_id for r in rows[:5]),
        )

    def _publish(self, batch: list[occurrences.Dispatch]) -> None:
        if batch:
            publish(batch, app=self.app, producer=self.producer)
            metrics.observe_published((d.scheduled_for for d in batch), now=timezone.now())
            first = [d.occurrence_id for d in batch[:5]]
            logger.info(
                "published %d event occurrences, first %s",
                len(batch),
                ", ".join(first),
                extra={"occurrence_ids": first, "event_ids": [d.event_id for d in batch[:5]]},
            )
