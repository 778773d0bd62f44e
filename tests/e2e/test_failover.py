"""Two real beats: the active one is killed with SIGKILL; the other takes over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus
from tests.conftest import event_kwargs
from tests.e2e.conftest import BEAT_ARGS, WORKER_ARGS, Processes, reset_broker, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LOCK_LINE = "beat lock acquired"


@pytest.fixture
def two_beats(tmp_path) -> Iterator[Processes]:
    reset_broker()
    processes = Processes(tmp_path)
    processes.start("worker", *WORKER_ARGS)
    processes.start("beat-a", *BEAT_ARGS)
    try:
        wait_until(processes, lambda: LOCK_LINE in processes.log("beat-a"), what="beat-a to lead")
        processes.start("beat-b", *BEAT_ARGS)
        yield processes
    finally:
        processes.stop()


def test_the_standing_by_beat_takes_over_within_5_s_of_a_kill(two_beats: Any) -> None:
    time.sleep(2)  # beat-b is up and standing by
    assert LOCK_LINE not in two_beats.log("beat-b")
    two_beats.kill("beat-a")
    killed_at = timezone.now()
    event = schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id="failover",
            scheduled_time=killed_at + timedelta(seconds=1),
            payload={},
        )
    )
    occurrence = wait_until(
        two_beats,
        lambda: Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).first(),
        what="the survivor to fire the event",
    )
    assert occurrence.sent_at - killed_at < timedelta(seconds=5)
    assert Occurrence.objects.filter(event=event).count() == 1
