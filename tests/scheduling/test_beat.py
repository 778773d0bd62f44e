"""The project's beat scheduler, driven tick by tick in-process on a memory broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from scheduling import cancel_event, schedule_event, schedule_events, selectors
from scheduling.beat import EventScheduler
from scheduling.conf import EVENT_TASK_NAME
from scheduling.models import (
    FiredBeatRows,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
    occurrence_task_id,
)
from scheduling.services import occurrences
from tests.conftest import event_kwargs

# Beat closes stale connections and commits, as in production: no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler(beat_app: Celery) -> Iterator[EventScheduler]:
    scheduler = EventScheduler(app=beat_app)
    yield scheduler
    scheduler.archiver.close()  # no thread of its left deleting into the next test


def due_now(**overrides: Any) -> ScheduledEvent:
    when = timezone.now() - timedelta(seconds=1)
    return schedule_event(**event_kwargs(scheduled_time=when, **overrides))


def test_the_beat_app_of_these_tests_publishes_to_its_own_memory_broker(beat_app) -> None:
    # Not to the run's broker (Redis db 15, the default's broker folder), which
    # other tests and processes read.
    with beat_app.connection_for_write() as conn:
        assert conn.transport.driver_type == "memory"


def test_a_due_one_off_is_published_once_on_the_events_queue(scheduler, published) -> None:
    event = due_now()
    scheduler.tick()
    scheduler.tick()

    [message] = published
    occurrence = Occurrence.objects.get(event=event)
    assert message["task"] == "backend.process_event"
    assert message["queue"] == "backend-events"
    assert message["kwargs"] == {"event_id": str(event.id), "occurrence_id": str(occurrence.pk)}
    assert message["id"] == occurrence_task_id(event.id, occurrence.scheduled_for.isoformat())
    assert occurrence.status == OccurrenceStatus.SENT
    event.refresh_from_db()
    assert event.next_run_at is None
    # Fired one-offs leave the beat tables; the occurrence is their history.
    assert event.periodic_task_id is None
    assert not PeriodicTask.objects.filter(name__contains=str(event.id)).exists()
    assert not ClockedSchedule.objects.exists()


def test_a_restarted_beat_does_not_fire_a_one_off_again(beat_app, published) -> None:
    due_now()
    EventScheduler(app=beat_app).tick()
    EventScheduler(app=beat_app).tick()
    assert len(published) == 1


def test_nothing_is_published_before_its_time_and_beat_wakes_for_it(
    scheduler, published, settings
) -> None:
    settings.SCHEDULING_BEAT_POLL_SECONDS = 5.0
    schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(seconds=2)))
    wait = scheduler.tick()
    assert published == []
    assert 0 < wait <= 2.0


def test_a_cancelled_event_is_never_published(scheduler, published) -> None:
    event = due_now()
    cancel_event(event.id)
    scheduler.tick()
    assert published == []


def test_everything_due_is_published_in_one_tick_in_batches(scheduler, published, settings) -> None:
    settings.SCHEDULING_BEAT_BATCH_SIZE = 10
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(25)])
    scheduler.tick()
    assert len(published) == 25
    assert Occurrence.objects.filter(status=OccurrenceStatus.SENT).count() == 25


def test_a_burst_of_several_batches_is_published_once_each_in_one_tick(
    scheduler, published, settings
) -> None:
    settings.SCHEDULING_BEAT_BATCH_SIZE = 10
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(30)])
    threads = {t.name for t in threading.enumerate()}
    scheduler.tick()
    scheduler.archiver.join()
    # Exactly once each, the last batch (empty) included, and the threads are gone.
    assert sorted(m["kwargs"]["event_id"] for m in published) == sorted(
        str(pk) for pk in ScheduledEvent.objects.values_list("pk", flat=True)
    )
    assert Occurrence.objects.filter(status=OccurrenceStatus.SENT).count() == 30
    assert {t.name for t in threading.enumerate()} == threads


def on_each_publish(monkeypatch: pytest.MonkeyPatch, look: Callable[[], Any]) -> list[Any]:
    """What ``look()`` says just before each batch beat publishes, in order."""
    import scheduling.beat

    seen: list[Any] = []
    real_publish = scheduling.beat.publish

    def looking(batch, **kwargs):
        seen.append(look())
        real_publish(batch, **kwargs)

    monkeypatch.setattr(scheduling.beat, "publish", looking)
    return seen


def test_a_burst_is_published_behind_its_claims_on_postgresql_only(
    scheduler, published, settings, monkeypatch
) -> None:
    # PostgreSQL: a thread publishes each batch while the next is claimed
    # (scheduling.publish_behind). SQLite (one writer at a time) and a tick
    # with less than a batch due publish in turn.
    settings.SCHEDULING_BEAT_BATCH_SIZE = 10
    publishers = on_each_publish(monkeypatch, lambda: threading.current_thread().name)
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(25)])
    scheduler.tick()
    due_now(entity_id="alone")
    scheduler.tick()

    burst = "publish-behind" if connection.vendor == "postgresql" else "MainThread"
    assert publishers == [burst, burst, burst, "MainThread"]
    assert len({m["id"] for m in published}) == len(published) == 26
    assert Occurrence.objects.filter(status=OccurrenceStatus.SENT).count() == 26


def test_a_bursts_beat_rows_are_deleted_once_it_is_all_published(
    scheduler, published, settings, monkeypatch
) -> None:
    # PostgreSQL: the claims after the first note their fired one-offs' beat
    # rows (FiredBeatRows) and beat deletes them after the last batch is out.
    # SQLite, in turn: each claim deletes its own.
    settings.SCHEDULING_BEAT_BATCH_SIZE = 10
    beat_rows_at_publish = on_each_publish(
        monkeypatch, lambda: PeriodicTask.objects.filter(task=EVENT_TASK_NAME).count()
    )
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(25)])
    scheduler.tick()
    scheduler.archiver.join()

    later = [15, 15, 15] if connection.vendor == "postgresql" else [15, 5, 0]
    assert beat_rows_at_publish == later
    assert Occurrence.objects.filter(status=OccurrenceStatus.SENT).count() == 25
    assert not PeriodicTask.objects.filter(task=EVENT_TASK_NAME).exists()
    assert not ClockedSchedule.objects.exists()
    assert not FiredBeatRows.objects.exists()


def test_beat_rows_a_dead_beat_left_to_delete_are_deleted_by_the_next(scheduler) -> None:
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(3)])
    # A beat claimed a batch of a burst, then died before publishing it.
    claimed = occurrences.claim_due_occurrences(now=timezone.now(), limit=10, archive_later=True)
    assert len(claimed) == 3
    assert PeriodicTask.objects.filter(task=EVENT_TASK_NAME).count() == 3
    assert not ScheduledEvent.objects.filter(periodic_task__isnull=False).exists()
    assert FiredBeatRows.objects.count() == 1

    scheduler.tick()  # the next beat's first tick
    scheduler.archiver.join()

    assert not PeriodicTask.objects.filter(task=EVENT_TASK_NAME).exists()
    assert not ClockedSchedule.objects.exists()
    assert not FiredBeatRows.objects.exists()
    # Their claims wait for their lease, as any unpublished claim does.
    assert Occurrence.objects.filter(status=OccurrenceStatus.CLAIMED).count() == 3


def test_a_running_beat_deletes_what_another_beat_left_at_its_next_sweep(
    scheduler, published
) -> None:
    scheduler.tick()  # this beat's first sweep: nothing left to delete
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(3)])
    # Another beat claimed them in a burst and died before deleting their rows.
    occurrences.claim_due_occurrences(now=timezone.now(), limit=10, archive_later=True)
    assert FiredBeatRows.objects.count() == 1

    scheduler._last_recovery = None  # its next sweep is due
    scheduler.tick()
    scheduler.archiver.join()

    assert not FiredBeatRows.objects.exists()
    assert not PeriodicTask.objects.filter(task=EVENT_TASK_NAME).exists()


def test_beat_goes_on_ticking_while_a_bursts_beat_rows_are_deleted(
    scheduler, published, monkeypatch
) -> None:
    # Deleted in beat's loop, a burst of 100,000's rows held the next tick
    # back some 3 s; now a thread deletes them (scheduling.archive_behind).
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(3)])
    occurrences.claim_due_occurrences(now=timezone.now(), limit=10, archive_later=True)
    release = threading.Event()
    real_archive = occurrences.archive_fired_beat_rows

    def slow(keep_going: Callable[[], bool]) -> int:
        assert release.wait(10)
        return real_archive(keep_going)

    monkeypatch.setattr(occurrences, "archive_fired_beat_rows", slow)
    scheduler.tick()  # its first sweep finds the rows: the thread starts, and waits
    assert scheduler.archiver.running
    nxt = due_now(entity_id="next")
    scheduler.tick()

    assert [m["kwargs"]["event_id"] for m in published] == [str(nxt.id)]
    assert scheduler.archiver.running
    assert FiredBeatRows.objects.count() == 1
    release.set()
    scheduler.archiver.join()
    assert not FiredBeatRows.objects.exists()
    assert not PeriodicTask.objects.filter(task=EVENT_TASK_NAME).exists()


def test_closing_beat_stops_the_deletes_after_the_batch_in_hand(scheduler) -> None:
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(6)])
    for _ in range(3):  # three batches of two, left to delete
        occurrences.claim_due_occurrences(now=timezone.now(), limit=2, archive_later=True)
    assert FiredBeatRows.objects.count() == 3
    asked: list[bool] = []
    first_done = threading.Event()

    def closed_after_the_first(keep_going: Callable[[], bool]) -> None:
        def ask() -> bool:
            if asked:  # the first batch is done: beat is closed meanwhile
                first_done.set()
                for _ in range(1000):
                    if not keep_going():
                        break
                    time.sleep(0.01)
            asked.append(keep_going())
            return asked[-1]

        occurrences.archive_fired_beat_rows(ask)

    scheduler.archiver = type(scheduler.archiver)(closed_after_the_first)
    assert scheduler.archiver.start()
    assert first_done.wait(10)
    scheduler.close()

    assert asked == [True, False]
    assert FiredBeatRows.objects.count() == 2  # left to the next beat's sweep
    assert not scheduler.archiver.start()  # nothing starts after close


@pytest.mark.parametrize(
    ("module", "name"),
    [
        (occurrences, "archive_fired_beat_rows"),  # deleting them fails (in the thread)
        (selectors, "fired_beat_rows_left"),  # looking for them fails (in the loop)
    ],
)
def test_beat_rows_that_will_not_delete_hold_up_neither_recovery_nor_firing(
    scheduler, published, monkeypatch, caplog, module, name
) -> None:
    from django.db import DatabaseError

    def broken(*args: Any) -> int:
        raise DatabaseError("a foreign key of another app refuses")

    # Rows a dead beat left, and a delete that fails.
    due_now(entity_id="left")
    occurrences.claim_due_occurrences(now=timezone.now(), limit=10, archive_later=True)
    monkeypatch.setattr(module, name, broken)
    lost = due_now(entity_id="lost")
    scheduler.tick()
    scheduler.archiver.join()
    # As if beat had died before publishing it: claimed, its lease lapsed.
    Occurrence.objects.filter(event=lost).update(
        status=OccurrenceStatus.CLAIMED, lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    due_now(entity_id="new")
    scheduler._last_recovery = None
    scheduler.tick()

    scheduler.archiver.join()

    sent = [m["kwargs"]["event_id"] for m in published]
    assert sent.count(str(lost.id)) == 2  # published again once its lease lapsed
    assert ScheduledEvent.objects.get(entity_id="new").fired_count == 1
    assert "fired one-offs' beat rows not" in caplog.text
    assert FiredBeatRows.objects.count() == 1  # left for a sweep that can delete them


def test_a_publish_failing_mid_burst_leaves_the_rest_claimed_for_recovery(
    scheduler, published, settings, monkeypatch
) -> None:
    import scheduling.beat

    settings.SCHEDULING_BEAT_BATCH_SIZE = 10
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(35)])
    calls = []
    real_publish = scheduling.beat.publish

    def broker_gone_after_one_batch(batch, **kwargs):
        calls.append(len(batch))
        if len(calls) > 1:
            raise ConnectionError("broker gone")
        real_publish(batch, **kwargs)

    monkeypatch.setattr(scheduling.beat, "publish", broker_gone_after_one_batch)
    scheduler.tick()  # beat outlives it: logged, retried next tick

    assert len(published) == 10
    sent = Occurrence.objects.filter(status=OccurrenceStatus.SENT).count()
    claimed = Occurrence.objects.filter(status=OccurrenceStatus.CLAIMED).count()
    assert sent == 10
    # Every event claimed has its occurrence: sent, or claimed for a lease-lapse republish.
    assert sent + claimed == ScheduledEvent.objects.filter(next_run_at__isnull=True).count()
    assert claimed >= 10

    monkeypatch.setattr(scheduling.beat, "publish", real_publish)
    Occurrence.objects.filter(status=OccurrenceStatus.CLAIMED).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    for _ in range(5):  # a sweep republishes a batch (10) at a time
        scheduler._last_recovery = None
        scheduler.tick()
    assert len({m["id"] for m in published}) == len(published) == 35


def test_more_than_999_due_at_once_on_sqlite_is_fine(scheduler, published) -> None:
    # Stock DatabaseScheduler cannot even load 999 clocked rows due within
    # five minutes on SQLite ("Expression tree is too large").
    when = timezone.now() - timedelta(seconds=1)
    schedule_events([event_kwargs(entity_id=f"appt-{i}", scheduled_time=when) for i in range(1200)])
    scheduler.tick()
    assert len(published) == 1200
    assert len({m["id"] for m in published}) == 1200


def test_a_recurring_event_moves_to_its_next_slot(scheduler, published) -> None:
    event = schedule_event(
        **event_kwargs(
            scheduled_time=timezone.now() - timedelta(days=1), recurrence={"frequency": "DAILY"}
        )
    )
    ScheduledEvent.objects.filter(pk=event.pk).update(next_run_at=event.scheduled_time)
    scheduler.tick()
    event.refresh_from_db()
    assert len(published) == 1
    # Yesterday's slot and today's (due a moment ago) were both due: one run
    # for the two, both counted.
    assert event.fired_count == 2
    assert event.next_run_at > timezone.now()
    assert event.next_run_at - timezone.now() <= timedelta(days=1)


def test_missed_slots_of_a_recurring_event_are_coalesced_into_one_run(scheduler, published) -> None:
    start = timezone.now() - timedelta(days=5)
    event = schedule_event(**event_kwargs(scheduled_time=start, recurrence={"frequency": "DAILY"}))
    # Beat was down for five days: the oldest slot is still the next run.
    ScheduledEvent.objects.filter(pk=event.pk).update(next_run_at=start)
    scheduler.tick()
    scheduler.tick()
    assert len(published) == 1
    event.refresh_from_db()
    assert event.next_run_at > timezone.now()


def test_a_claim_left_unsent_by_a_dead_beat_is_published_again_with_the_same_id(
    scheduler, published
) -> None:
    from scheduling.services.occurrences import claim_due_occurrences

    due_now()
    [claim] = claim_due_occurrences(now=timezone.now(), limit=10)  # ...and then beat died
    scheduler.tick()
    assert published == []  # its lease (15 s) has not lapsed
    Occurrence.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    EventScheduler(app=scheduler.app).tick()
    assert [m["id"] for m in published] == [claim.task_id]
    assert Occurrence.objects.get().status == OccurrenceStatus.SENT


def test_event_rows_stay_out_of_the_stock_schedule(scheduler) -> None:
    event = due_now()
    names = set(scheduler.schedule)
    assert event.periodic_task.name not in names
    assert "celery.backend_cleanup" in names


def test_kwargs_published_are_json(scheduler, published) -> None:
    due_now()
    scheduler.tick()
    assert json.loads(json.dumps(published[0]["kwargs"]))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's query plan")
def test_the_stock_reload_reads_other_tasks_through_an_index(scheduler) -> None:
    # Not a scan of every event's row: two ranges of the index on task.
    plan = scheduler.enabled_models_qs().explain()
    assert "scheduling_periodictask_task_idx" in plan
    assert "SCAN django_celery_beat_periodictask" not in plan


def test_an_idle_tick_reads_the_stock_schedule_only_when_it_asked_to(scheduler) -> None:
    from django.test.utils import CaptureQueriesContext

    scheduler.tick_once()  # the stock tick runs, and says when it wants the next
    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            scheduler.tick_once()
    stock_reads = [q for q in queries if "django_celery_beat_periodictasks" in q["sql"]]
    assert stock_reads == []
    # And an idle tick reads at most the next firing (nothing at all while listening).
    assert len(queries) <= 5


def test_the_next_firing_beat_sleeps_until_is_the_earliest_aware_instant() -> None:
    from scheduling.selectors import next_due_at

    assert next_due_at() is None
    soon = timezone.now() + timedelta(minutes=3)
    schedule_event(**event_kwargs(entity_id="later", scheduled_time=soon + timedelta(hours=1)))
    schedule_event(**event_kwargs(entity_id="soon", scheduled_time=soon))
    assert next_due_at() == soon
    assert next_due_at().utcoffset() == timedelta(0)
