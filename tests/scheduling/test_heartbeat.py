"""Beat records that it ticks: a cheap, throttled write that never breaks the tick."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from celery import Celery
from django.db import OperationalError

from scheduling.beat import EventScheduler
from scheduling.models import BeatHeartbeat
from scheduling.services import heartbeats
from tests.conftest import NOW

# Beat closes stale connections and commits, as in production: no test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler(freezer: Any, beat_app: Celery) -> EventScheduler:
    # Started at the frozen instant: a clock that jumps after the start
    # would make the stock schedule fire its own tasks.
    return EventScheduler(app=beat_app)


def test_the_first_tick_records_a_leader_heartbeat(scheduler) -> None:
    scheduler.tick()

    beat = BeatHeartbeat.objects.get()
    assert beat.instance == scheduler.instance
    assert beat.is_leader
    assert beat.last_tick_at == NOW
    assert beat.started_at == NOW


def test_beat_writes_its_heartbeat_at_most_once_per_interval(scheduler, freezer, settings) -> None:
    settings.SCHEDULING_BEAT_HEARTBEAT_SECONDS = 5
    spy = mock.patch.object(heartbeats, "record_beat_tick", wraps=heartbeats.record_beat_tick)
    with spy as record:
        for _ in range(41):  # ten seconds of quarter-second ticks
            scheduler.tick()
            freezer.tick(timedelta(seconds=0.25))

    assert [call.kwargs["now"] for call in record.call_args_list] == [
        NOW,
        NOW + timedelta(seconds=5),
        NOW + timedelta(seconds=10),
    ]
    assert BeatHeartbeat.objects.get().last_tick_at == NOW + timedelta(seconds=10)


def test_a_standby_that_takes_over_shows_as_leader_at_once(
    settings, tmp_path, beat_app, freezer
) -> None:
    settings.SCHEDULING_BEAT_LOCK = True
    settings.VAR_DIR = tmp_path
    active, standby = EventScheduler(app=beat_app), EventScheduler(app=beat_app)
    # Two beats in one process: name them as two processes would be.
    active.instance, standby.instance = "host:1", "host:2"
    try:
        active.tick()
        standby.tick()
        assert not BeatHeartbeat.objects.get(instance="host:2").is_leader
        active.close()  # the active beat dies
        standby.tick()  # same instant: only the change of role forces the write
        assert BeatHeartbeat.objects.get(instance="host:2").is_leader
    finally:
        active.close()
        standby.close()


def test_a_database_error_while_recording_does_not_break_the_tick(
    scheduler, freezer, caplog
) -> None:
    failing = mock.patch.object(
        heartbeats, "record_beat_tick", side_effect=OperationalError("database is locked")
    )
    with failing as record:
        wait = scheduler.tick()
        freezer.tick(timedelta(seconds=1))
        scheduler.tick()

    assert wait >= 0
    # Retried once per interval, not on every tick.
    assert record.call_count == 1
    assert "beat heartbeat not recorded (database is locked)" in caplog.text


def test_heartbeats_of_beats_silent_for_a_day_are_deleted(scheduler) -> None:
    for instance, age in (
        ("gone:1", timedelta(days=1, seconds=1)),
        ("quiet:1", timedelta(hours=23)),
    ):
        BeatHeartbeat.objects.create(
            instance=instance, started_at=NOW - age, last_tick_at=NOW - age, is_leader=True
        )

    scheduler.tick()

    assert set(BeatHeartbeat.objects.values_list("instance", flat=True)) == {
        "quiet:1",
        scheduler.instance,
    }
