"""One active beat: the lock, its takeover, and what a standing-by beat does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from scheduling import schedule_event
from scheduling.beat import EventScheduler
from scheduling.leader import FileLock, PostgresAdvisoryLock, lock_for
from tests.conftest import event_kwargs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_file_lock_is_held_by_one_holder_and_freed_when_it_goes(tmp_path) -> None:
    first, second = FileLock(tmp_path / "beat.lock"), FileLock(tmp_path / "beat.lock")
    assert first.acquire() is True
    assert second.acquire() is False
    assert first.acquire() is True  # still held
    first.release()  # what the kernel does when the holder dies
    assert second.acquire() is True


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL advisory lock")
def test_an_advisory_lock_is_held_by_one_session_and_freed_with_it() -> None:
    first = PostgresAdvisoryLock(connection.settings_dict)
    second = PostgresAdvisoryLock(connection.settings_dict)
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        first._conn.close()  # the holder's session dies
        assert second.acquire() is True
        assert first.acquire() is False
    finally:
        first.release()
        second.release()


def test_the_lock_suits_the_database(tmp_path) -> None:
    lock = lock_for(connection.settings_dict, tmp_path)
    expected = PostgresAdvisoryLock if connection.vendor == "postgresql" else FileLock
    assert isinstance(lock, expected)


def test_a_standing_by_beat_publishes_nothing_until_it_takes_over(
    settings, tmp_path, beat_app, published
) -> None:
    settings.SCHEDULING_BEAT_LOCK = True
    settings.VAR_DIR = tmp_path
    active, standby = EventScheduler(app=beat_app), EventScheduler(app=beat_app)
    try:
        assert active.lock.acquire()
        schedule_event(**event_kwargs(scheduled_time=timezone.now() - timedelta(seconds=1)))
        standby.tick()
        events_published = [m for m in published if m["task"] == "backend.process_event"]
        if connection.vendor == "postgresql":
            # Claims are row locks there: every beat may claim events.
            assert len(events_published) == 1
        else:
            assert events_published == []
            assert not [m for m in published if m["task"] == "celery.backend_cleanup"]
            active.close()  # the active beat dies
            standby.tick()
            assert len([m for m in published if m["task"] == "backend.process_event"]) == 1
    finally:
        active.close()
        standby.close()
