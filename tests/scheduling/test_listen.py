"""PostgreSQL: beat listens for writes of ``next_run_at``, reads only when something can be due."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from celery import Celery
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from scheduling import schedule_event, schedule_events
from scheduling.beat import EventScheduler
from scheduling.listener import CHANNEL
from scheduling.models import ScheduledEvent
from tests.conftest import event_kwargs

# Notices are sent at commit: no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"
)


@pytest.fixture
def listening(settings: Any, beat_app: Celery) -> Iterator[EventScheduler]:
    settings.SCHEDULING_BEAT_LISTEN = True
    settings.SCHEDULING_BEAT_LOCK = False
    scheduler = EventScheduler(app=beat_app)
    scheduler.tick_once()  # the first read, made while listening
    assert scheduler.listening
    yield scheduler
    scheduler.close()


@pytest.fixture
def raw_listener() -> Iterator[psycopg.Connection[Any]]:
    db = connection.settings_dict
    conn = psycopg.connect(
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
        autocommit=True,
    )
    conn.execute(f"LISTEN {CHANNEL}")
    yield conn
    conn.close()


def notices(conn: psycopg.Connection[Any], timeout: float = 2.0) -> list[datetime]:
    got = [n.payload for n in conn.notifies(timeout=timeout, stop_after=1)]
    got += [n.payload for n in conn.notifies(timeout=0.2)]
    return [datetime.fromtimestamp(float(p), tz=UTC) for p in got]


def due_now(entity_id: str = "appt-now") -> ScheduledEvent:
    when = timezone.now() - timedelta(milliseconds=10)
    return schedule_event(**event_kwargs(scheduled_time=when, entity_id=entity_id))


def event_published(published: list[dict[str, Any]], event: ScheduledEvent) -> bool:
    return any(m["kwargs"].get("event_id") == str(event.id) for m in published)


@postgres_only
def test_an_insert_notifies_the_earliest_next_run_at_once_per_statement(raw_listener) -> None:
    soon = timezone.now() + timedelta(hours=1)
    schedule_events(
        [
            event_kwargs(entity_id="later", scheduled_time=soon + timedelta(hours=2)),
            event_kwargs(entity_id="sooner", scheduled_time=soon),
        ]
    )
    assert notices(raw_listener) == [soon]


@postgres_only
def test_an_update_moving_next_run_at_notifies_and_a_cancel_does_not(raw_listener) -> None:
    event = schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(days=1)))
    notices(raw_listener)
    moved = timezone.now() + timedelta(minutes=5)
    ScheduledEvent.objects.filter(pk=event.pk).update(next_run_at=moved)
    assert notices(raw_listener) == [moved]
    ScheduledEvent.objects.filter(pk=event.pk).update(status="cancelled", next_run_at=None)
    assert notices(raw_listener, timeout=0.5) == []


@postgres_only
def test_idle_ticks_read_nothing(listening) -> None:
    schedule_event(**event_kwargs(scheduled_time=timezone.now() + timedelta(days=1)))
    listening.tick()  # takes in the insert's notice
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            wait = listening.tick_once()
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert 0 < wait <= 5.0


@postgres_only
def test_a_notice_ends_the_wait_and_the_next_tick_fires_the_event(listening, published) -> None:
    event = due_now()
    started = time.monotonic()
    assert listening.tick() == 0.0  # waits for the notice, not the 5 s re-check
    assert time.monotonic() - started < 2.0
    listening.tick_once()
    assert event_published(published, event)


@postgres_only
def test_a_lost_notice_delays_a_firing_by_at_most_the_recheck(
    settings, listening, published
) -> None:
    settings.SCHEDULING_BEAT_RECHECK_SECONDS = 0.5
    listening.watch.recheck_seconds = 0.5
    listening.watch.read(None)  # as if read just now: nothing scheduled
    event = due_now()
    assert listening.listener is not None
    listening.listener.wait(2.0)  # the notice arrives and is dropped
    assert listening.tick_once() <= 0.5
    assert not event_published(published, event)
    time.sleep(0.5)
    listening.tick_once()
    assert event_published(published, event)


@postgres_only
def test_the_listener_reconnects_after_its_connection_is_killed(
    listening, published, caplog
) -> None:
    assert listening.listener is not None
    pid = listening.listener._conn.info.backend_pid
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    caplog.set_level(logging.WARNING, logger="scheduling.beat")
    listening.tick()  # the wait finds the connection gone
    assert not listening.listening
    polled = due_now("appt-while-down")
    listening.tick_once()  # polls meanwhile
    assert event_published(published, polled)
    deadline = time.monotonic() + 5
    while not listening.listening and time.monotonic() < deadline:
        time.sleep(0.1)
        listening.tick_once()
    assert listening.listener._conn.info.backend_pid != pid
    event = due_now("appt-after")
    listening.tick()
    listening.tick_once()
    assert event_published(published, event)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("listening for due events failed" in m for m in messages) == 1
    assert sum("listening for due events works again" in m for m in messages) == 1


def test_without_listening_every_tick_reads_as_on_sqlite(settings, beat_app) -> None:
    settings.SCHEDULING_BEAT_LISTEN = connection.vendor == "sqlite"  # SQLite never listens
    settings.SCHEDULING_BEAT_LOCK = False
    scheduler = EventScheduler(app=beat_app)
    try:
        scheduler.tick()
        assert scheduler.listener is None
        with CaptureQueriesContext(connection) as queries:
            wait = scheduler.tick()
        assert any("next_run_at" in q["sql"] for q in queries)
        assert wait <= settings.SCHEDULING_BEAT_POLL_SECONDS
    finally:
        scheduler.close()
