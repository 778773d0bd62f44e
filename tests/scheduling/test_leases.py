"""Leases: no occurrence stays unfinished forever, and none is published while it waits.

Each test pins one hole that fault injection found (issue 10): a worker
killed mid-handler, an outcome lost to a database blip, a backlog taken for
lost messages, a reminder run past its grace, a beat killed by a broker
outage.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.db import OperationalError, connection
from django.utils import timezone
from kombu.exceptions import BatchPublishError

from scheduling import schedule_event
from scheduling.beat import EventScheduler
from scheduling.models import EventStatus, Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.services import leases, occurrences
from scheduling.tasks import process_event
from tests.conftest import event_kwargs, recorded, replace_handler
from tests.plans import plans_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler(beat_app: Celery) -> EventScheduler:
    return EventScheduler(app=beat_app)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []

    def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        seen.append(str(occurrence.pk))
        return {"handled": True}

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", handle)
    return seen


def due_now(**overrides: Any) -> ScheduledEvent:
    when = timezone.now() - timedelta(seconds=1)
    return schedule_event(**event_kwargs(scheduled_time=when, **overrides))


def purge(app: Celery) -> None:
    """The worker took every waiting message (and, for this test, lost it)."""
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("backend-events")


def lapse(**filters: Any) -> None:
    Occurrence.objects.filter(**filters).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def event_messages(published: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in published if m["task"] == "backend.process_event"]


class TestSentMessages:
    def test_a_message_waiting_in_a_busy_queue_is_never_published_again(
        self, scheduler, published
    ) -> None:
        # Issue 10 #4: 10,000 due at once were re-published 500 at a time
        # while their messages only waited in the queue.
        due_now()
        scheduler.tick()
        lapse()
        published.clear()
        EventScheduler(app=scheduler.app).tick()
        assert event_messages(published) == []

    def test_a_lost_message_is_published_again_once_then_backs_off(
        self, scheduler, published, settings
    ) -> None:
        settings.SCHEDULING_SENT_REPUBLISH_SECONDS = 120
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        purge(scheduler.app)
        lapse()
        published.clear()

        EventScheduler(app=scheduler.app).tick()
        assert event_messages(published) == [occurrence.task_id]
        occurrence.refresh_from_db()
        assert (occurrence.status, occurrence.republish_count) == (OccurrenceStatus.SENT, 1)
        # The next wait is twice the first: 240 s.
        wait = occurrence.lease_expires_at - occurrence.sent_at
        assert wait == timedelta(seconds=240)

        purge(scheduler.app)
        published.clear()
        EventScheduler(app=scheduler.app).tick()
        assert event_messages(published) == []  # its new lease has not lapsed

    def test_the_wait_doubles_up_to_an_hour(self, settings) -> None:
        settings.SCHEDULING_SENT_REPUBLISH_SECONDS = 120
        waits = [leases.sent_lease(n).total_seconds() for n in range(7)]
        assert waits == [120, 240, 480, 960, 1920, 3600, 3600]


class TestDeadWorkers:
    def test_a_running_occurrence_whose_worker_died_runs_again(
        self, scheduler, published, calls
    ) -> None:
        # Issue 10 #2: killed mid-handler on the filesystem broker, the
        # occurrence stayed running forever.
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        start = occurrences.begin_occurrence(
            event_id=str(occurrence.event_id),
            occurrence_id=str(occurrence.pk),
            task_id=occurrence.task_id,
            now=timezone.now(),
        )
        assert start is not None  # ...and the worker died in the handler
        purge(scheduler.app)
        published.clear()
        EventScheduler(app=scheduler.app).tick()
        assert event_messages(published) == []  # the lease is live

        lapse()
        EventScheduler(app=scheduler.app).tick()
        assert event_messages(published) == [occurrence.task_id]
        [message] = [m for m in published if m["task"] == "backend.process_event"]
        assert process_event.apply(kwargs=message["kwargs"]).get()["status"] == "succeeded"
        occurrence.refresh_from_db()
        assert (occurrence.status, occurrence.attempts) == (OccurrenceStatus.SUCCEEDED, 2)
        assert calls == [str(occurrence.pk)]

    def test_a_second_delivery_while_the_first_runs_is_ignored(self, scheduler, calls) -> None:
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        kwargs = {"event_id": str(occurrence.event_id), "occurrence_id": str(occurrence.pk)}
        occurrences.begin_occurrence(**kwargs, task_id=None, now=timezone.now())
        assert process_event.apply(kwargs=kwargs).get()["status"] == "ignored"
        assert calls == []

    def test_the_worker_renews_the_lease_while_the_handler_runs(
        self, scheduler, monkeypatch, settings
    ) -> None:
        settings.SCHEDULING_OCCURRENCE_LEASE_SECONDS = 1
        leases_seen: list[Any] = []

        def slow(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
            for _ in range(4):
                time.sleep(0.5)
                leases_seen.append(
                    Occurrence.objects.values_list("lease_expires_at", flat=True).get()
                )
            return {}

        replace_handler(monkeypatch, "APPOINTMENT_REMINDER", slow)
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        kwargs = {"event_id": str(occurrence.event_id), "occurrence_id": str(occurrence.pk)}
        assert process_event.apply(kwargs=kwargs).get()["status"] == "succeeded"
        # Renewed every third of a second: the lease moved on as time passed.
        assert leases_seen[-1] > leases_seen[0]

    def test_a_retry_waiting_for_its_backoff_holds_its_lease(self, scheduler, monkeypatch) -> None:
        occurrence = self._started(scheduler)
        occurrences.retry_later(occurrence, error="boom", countdown=30, now=timezone.now())
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.RETRYING
        assert occurrence.lease_expires_at > timezone.now() + timedelta(seconds=30)
        assert leases.lapsed(now=timezone.now(), include_sent=True, limit=10) == []

    @staticmethod
    def _started(scheduler: EventScheduler) -> Occurrence:
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        start = occurrences.begin_occurrence(
            event_id=str(occurrence.event_id),
            occurrence_id=str(occurrence.pk),
            task_id=None,
            now=timezone.now(),
        )
        assert start is not None
        return start.occurrence


class TestDatabaseBlips:
    def test_an_outcome_is_recorded_through_a_short_outage(
        self, scheduler, calls, monkeypatch
    ) -> None:
        # Issue 10 #3: the handler ran, recording its outcome failed, and the
        # occurrence stayed running forever.
        monkeypatch.setattr("scheduling.resilience.DEFAULT_WAITS", (0.01, 0.01, 0.01))
        real = occurrences.complete_occurrence
        failures = iter([OperationalError("server closed the connection")] * 2)

        def flaky(*args: Any, **kwargs: Any) -> bool:
            for exc in failures:
                raise exc
            return real(*args, **kwargs)

        monkeypatch.setattr(occurrences, "complete_occurrence", flaky)
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        kwargs = {"event_id": str(occurrence.event_id), "occurrence_id": str(occurrence.pk)}
        process_event.apply(kwargs=kwargs)
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.SUCCEEDED

    def test_an_outcome_lost_to_a_long_outage_is_left_to_the_lease(
        self, scheduler, calls, monkeypatch
    ) -> None:
        monkeypatch.setattr("scheduling.resilience.DEFAULT_WAITS", (0.01,))

        def down(*args: Any, **kwargs: Any) -> bool:
            raise OperationalError("connection refused")

        monkeypatch.setattr(occurrences, "complete_occurrence", down)
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        kwargs = {"event_id": str(occurrence.event_id), "occurrence_id": str(occurrence.pk)}
        process_event.apply(kwargs=kwargs)
        occurrence.refresh_from_db()
        assert occurrence.status == OccurrenceStatus.RUNNING
        later = occurrence.lease_expires_at + timedelta(seconds=1)
        [lapsed] = leases.lapsed(now=later, include_sent=False, limit=10)
        assert lapsed.occurrence_id == str(occurrence.pk)


class TestGraceAtTheWorker:
    def test_a_reminder_reaching_the_worker_past_its_grace_is_missed_not_sent(
        self, scheduler, calls
    ) -> None:
        # Issue 10 #4: 15-minute reminders ran ~10 min late, past their
        # 10-minute grace, because grace was checked only when beat claimed.
        due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        # It waited eleven minutes in a backlog.
        Occurrence.objects.update(scheduled_for=timezone.now() - timedelta(minutes=11))
        kwargs = {"event_id": str(occurrence.event_id), "occurrence_id": str(occurrence.pk)}
        outcome = process_event.apply(kwargs=kwargs).get()
        assert outcome["status"] == "missed"
        assert calls == []
        assert "missed: started" in recorded(outcome).error
        assert ScheduledEvent.objects.get().status == EventStatus.MISSED

    def test_a_manual_run_is_never_missed(self, calls) -> None:
        event = schedule_event(**event_kwargs())
        outcome = process_event.apply(kwargs={"event_id": str(event.id)}).get()
        assert outcome["status"] == "succeeded"


class TestBeatOutlivesOutages:
    def test_a_publish_batch_of_uncertain_delivery_does_not_stop_beat(
        self, scheduler, published, monkeypatch, caplog
    ) -> None:
        # Issue 10 #1: BatchPublishError from a Redis outage killed every beat.
        def broken(*args: Any, **kwargs: Any) -> None:
            raise BatchPublishError("Redis publish batch failed; delivery is uncertain")

        monkeypatch.setattr("scheduling.beat.publish", broken)
        due_now()
        scheduler.tick()
        due_now(entity_id="appt-2")
        scheduler.tick()
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1  # once per outage, not once per tick

        monkeypatch.undo()
        lapse()
        scheduler._last_recovery = None
        scheduler.tick()
        assert len(event_messages(published)) == 2
        assert any("works again" in r.getMessage() for r in caplog.records)

    def test_a_beat_started_while_the_database_is_down_waits_for_it(
        self, beat_app, published, monkeypatch, caplog
    ) -> None:
        # Chaos run (docs/reliability.md): a beat restarted during a database
        # outage died in the stock scheduler's constructor, which reads the
        # periodic tasks, before any outage-proof tick.
        def refused(*args: Any, **kwargs: Any) -> None:
            raise OperationalError("connection failed: Connection refused")

        monkeypatch.setattr(EventScheduler, "enabled_models_qs", refused)
        scheduler = EventScheduler(app=beat_app)
        scheduler.tick()
        assert any(r.levelname == "ERROR" for r in caplog.records)

        monkeypatch.undo()
        due_now()
        scheduler.tick()
        assert len(event_messages(published)) == 1
        # The stock schedule is set up once the database answers.
        assert "celery.backend_cleanup" in scheduler.schedule

    def test_any_other_error_in_a_tick_is_survived(self, scheduler, monkeypatch) -> None:
        def broken(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("anything at all")

        monkeypatch.setattr("scheduling.selectors.next_due_at", broken)
        assert scheduler.tick() == pytest.approx(0.25, abs=0.25)


class TestCancelRacingAFiring:
    def test_a_cancel_committed_before_the_start_skips_the_firing(self, scheduler, calls) -> None:
        event = due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        cancellation = scheduling_cancel(event)
        assert (cancellation.cancelled, cancellation.firing_in_progress) == (True, False)
        kwargs = {"event_id": str(event.id), "occurrence_id": str(occurrence.pk)}
        assert process_event.apply(kwargs=kwargs).get()["status"] == "skipped"
        assert calls == []

    def test_a_cancel_after_the_start_says_the_firing_is_in_progress(self, scheduler) -> None:
        event = due_now()
        scheduler.tick()
        [occurrence] = Occurrence.objects.all()
        occurrences.begin_occurrence(
            event_id=str(event.id),
            occurrence_id=str(occurrence.pk),
            task_id=None,
            now=timezone.now(),
        )
        cancellation = scheduling_cancel(event)
        assert (cancellation.cancelled, cancellation.firing_in_progress) == (True, True)

    def test_concurrent_cancels_and_firings_have_one_outcome_each(
        self, scheduler, monkeypatch
    ) -> None:
        # Issue 10 #6: a reschedule committed while the old firing's handler
        # was starting, and both the old and the new firing ran.
        ran: set[str] = set()

        def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
            ran.add(str(event.id))
            time.sleep(0.01)
            return {}

        replace_handler(monkeypatch, "APPOINTMENT_REMINDER", handle)
        events = [due_now(entity_id=f"appt-{n}") for n in range(12)]
        scheduler.tick()
        outcomes: dict[str, Any] = {}

        def fire(event: ScheduledEvent) -> None:
            occurrence = Occurrence.objects.get(event=event)
            kwargs = {"event_id": str(event.id), "occurrence_id": str(occurrence.pk)}
            process_event.apply(kwargs=kwargs)

        def cancel(event: ScheduledEvent) -> None:
            outcomes[str(event.id)] = scheduling_cancel(event)

        threads = [threading.Thread(target=f, args=(e,)) for e in events for f in (fire, cancel)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        for event in events:
            cancellation = outcomes[str(event.id)]
            if cancellation.cancelled and not cancellation.firing_in_progress:
                assert str(event.id) not in ran, "cancelled before it started, yet it ran"
            if str(event.id) not in ran:
                assert not cancellation.firing_in_progress


def scheduling_cancel(event: ScheduledEvent) -> Any:
    from scheduling import cancel_event

    return cancel_event(event.id)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_a_lapsed_backlog_is_read_down_the_lease_index_whatever_the_statistics_say() -> None:
    # 60,000 finished firings and 3,000 sent ones whose lease lapsed, in no
    # order on disk: the planner guesses (3,000 / 63,000)² of the table
    # lapsed, 143 rows, below the limit, and with fresh statistics it sorted
    # every lapsed row.
    event = due_now()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO scheduling_occurrence (id, event_id, scheduled_for, task_id, trigger,
                status, attempts, republish_count, claimed_at, sent_at, lease_expires_at,
                finished_at)
            SELECT gen_random_uuid(), %s, %s - i * interval '1 minute', 'o-' || i, 'schedule',
                CASE WHEN i <= 3000 THEN 'sent' ELSE 'succeeded' END, 0, 0, %s, %s,
                CASE WHEN i <= 3000 THEN %s - i * interval '1 second' END,
                CASE WHEN i > 3000 THEN %s END
            FROM generate_series(1, 63000) AS i ORDER BY random()
            """,
            [event.id, now, now, now, now, now],
        )
        cursor.execute("ANALYZE scheduling_occurrence")
    with plans_of(lambda sql: sql.startswith("SELECT") and "lease_expires_at" in sql) as plans:
        rows = leases.lapsed(now=now, include_sent=True, limit=500)

    assert len(rows) == 500
    assert [r.lease_expires_at for r in rows] == sorted(r.lease_expires_at for r in rows)
    assert rows[0].lease_expires_at == now - timedelta(seconds=3000)
    [plan] = plans
    assert "Index Scan using occurrence_lease_idx" in plan
    assert "Sort" not in plan
    assert "Bitmap" not in plan
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_sort")  # outside the read, the defaults again
        assert cursor.fetchone() == ("on",)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_an_outcome_is_written_by_its_key_whatever_the_statistics_say() -> None:
    # Statistics taken between bursts, when nothing was unfinished; then a
    # backlog of 20,000 sent firings. The outcome of one running firing must
    # not read the backlog to find its row.
    event = due_now()
    now = timezone.now()
    insert = """
        INSERT INTO scheduling_occurrence (id, event_id, scheduled_for, task_id, trigger,
            status, attempts, republish_count, claimed_at, sent_at, lease_expires_at,
            finished_at)
        SELECT gen_random_uuid(), %s, %s - i * interval '1 minute', %s || i, 'schedule',
            %s, 0, 0, %s, %s, %s, %s
        FROM generate_series(1, %s) AS i ORDER BY random()
    """
    with connection.cursor() as cursor:
        long_ago = now - timedelta(days=365)
        cursor.execute(insert, [event.id, long_ago, "done-", "succeeded", now, now, None, now, 500])
        cursor.execute("ANALYZE scheduling_occurrence")
        cursor.execute(insert, [event.id, now, "sent-", "sent", now, now, now, None, 20000])
    running = Occurrence.objects.create(
        event=event,
        scheduled_for=now + timedelta(days=1),
        task_id="running-1",
        status=OccurrenceStatus.RUNNING,
        attempts=1,
        claimed_at=now,
        lease_expires_at=now + timedelta(minutes=5),
    )

    def on_occurrences(sql: str) -> bool:
        return (
            sql.startswith(("SELECT", "UPDATE"))
            and "scheduling_occurrence" in sql.split("WHERE")[0]
        )

    with plans_of(on_occurrences) as plans:
        assert occurrences.complete_occurrence(running, result={"ok": True}, now=now)

    running.refresh_from_db()
    assert running.status == OccurrenceStatus.SUCCEEDED
    assert plans
    for plan in plans:
        assert "occurrence_lease_idx" not in plan
        assert "scheduling_occurrence_pkey" in plan
