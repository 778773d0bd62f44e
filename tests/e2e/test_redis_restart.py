"""A real worker survives its Redis broker restarting, tasks in flight, again and again.

The test runs a redis-server of its own on a free port (never the shared one):
it is stopped and started under the worker several times. Each time the
worker holds an unacknowledged message (a task with an ETA, as a handler's
retry with a countdown is) while its BRPOP is outstanding: the case where
celery 5.7's reconnect closed the connection a second time and kombu's
restore of that message raised AttributeError (…'hostname'), which killed
the worker (see scheduling/redis_transport.py).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.utils import timezone
from kombu import Connection

from scheduling import schedule_event
from scheduling.models import Occurrence, OccurrenceStatus, ScheduledEvent
from scheduling.services.beat_rows import EVENT_QUEUE, EVENT_TASK_NAME
from tests.conftest import event_kwargs
from tests.e2e.conftest import BEAT_ARGS, WORKER_ARGS, Processes, free_port, wait_until
from tests.redis_server import RedisServer, running_redis

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

RESTARTS = 4
CONNECTION_LOST = "Connection to broker lost"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(free_port(), tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def system(tmp_path: Path, broker: RedisServer) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    processes.env["CELERY_BROKER_URL"] = broker.url
    # Messages lost with the broker's contents (no persistence) are published
    # again soon, rather than after the default 10 minutes.
    processes.env["SCHEDULING_SENT_REPUBLISH_SECONDS"] = "3"
    processes.start("worker", *WORKER_ARGS)
    processes.start("beat", *BEAT_ARGS)
    try:
        yield processes
    finally:
        processes.stop()


def hold_a_task_with_an_eta(broker_url: str) -> str:
    """Publish a task the worker takes at once and keeps unacknowledged until its ETA."""
    # A connection of its own: Celery would prefer the run's CELERY_BROKER_URL.
    with Connection(broker_url) as conn:
        # An unknown event: should its ETA ever come, the worker ignores it.
        kwargs = {"event_id": str(uuid.uuid4())}
        result = Celery(set_as_current=False).send_task(
            EVENT_TASK_NAME,
            kwargs=kwargs,
            queue=EVENT_QUEUE,
            countdown=600,
            producer=conn.Producer(),
        )
        return str(result.id)


def cleanup_now(entity_id: str) -> ScheduledEvent:
    return schedule_event(
        **event_kwargs(
            event_type="DATA_CLEANUP",
            entity_id=entity_id,
            scheduled_time=timezone.now() + timedelta(seconds=0.5),
            payload={"days_to_keep": 30},
        )
    )


def run_once(system: Processes, event: ScheduledEvent) -> None:
    wait_until(
        system,
        lambda: Occurrence.objects.filter(event=event, status=OccurrenceStatus.SUCCEEDED).exists(),
        timeout=20,
        what=f"{event.entity_id} to run",
    )


def test_the_worker_survives_redis_restarts_with_tasks_in_flight(system, broker) -> None:
    events = []
    for round_ in range(RESTARTS):
        # The worker consumes (again): an event goes through beat and the worker.
        events.append(cleanup_now(f"before-restart-{round_}"))
        run_once(system, events[-1])
        task_id = hold_a_task_with_an_eta(broker.url)
        wait_until(
            system,
            lambda task_id=task_id: f"[{task_id}] received" in system.log("worker"),
            timeout=10,
            what="the worker to take the task with an ETA",
        )
        drops = system.log("worker").count(CONNECTION_LOST)
        broker.restart()
        wait_until(
            system,
            lambda drops=drops: system.log("worker").count(CONNECTION_LOST) > drops,
            timeout=10,
            what="the worker to see the connection drop",
        )

    later = [cleanup_now(f"after-restarts-{n}") for n in range(3)]
    for event in later:
        run_once(system, event)
    time.sleep(1.0)  # a few beat ticks: nothing runs twice

    assert "Unrecoverable error" not in system.log("worker")
    assert system.procs["worker"].poll() is None
    for event in events + later:
        [occurrence] = Occurrence.objects.filter(event=event)
        assert occurrence.status == OccurrenceStatus.SUCCEEDED
        assert occurrence.attempts == 1
