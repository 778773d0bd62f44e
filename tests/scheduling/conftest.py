"""Fixtures that drive the real EventScheduler in-process and record what it publishes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.signals import after_task_publish
from django.utils import timezone


@pytest.fixture(autouse=True)
def beat_polls(settings: Any) -> None:
    """In-process beats poll, as on SQLite, unless a test turns listening on.

    These tests write in the test's transaction (a notice is sent only at
    commit) and freeze the clock (the re-check counts monotonic time), so
    each tick must read; tests/scheduling/test_listen.py covers listening.
    """
    settings.SCHEDULING_BEAT_LISTEN = False


@pytest.fixture
def published() -> Iterator[list[dict[str, Any]]]:
    """Every task published while the test runs: name, id, kwargs, queue, when."""
    sent: list[dict[str, Any]] = []

    def record(sender: str, headers: dict, body: tuple, routing_key: str, **_: Any) -> None:
        sent.append(
            {
                "task": sender,
                "id": headers["id"],
                "kwargs": body[1],
                "queue": routing_key,
                "at": timezone.now(),
            }
        )

    after_task_publish.connect(record, weak=False)
    yield sent
    after_task_publish.disconnect(record)


@pytest.fixture
def beat_app() -> Celery:
    """A Celery app configured like the project's, on an in-memory broker."""
    app = Celery("beat-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    # Celery copied the settings' URL into the read and write URLs already
    # (publishing uses the write one), and the settings name a Redis
    # transport class for a Redis URL: all of them, or the PostgreSQL pass
    # publishes to its Redis and the default pass to its broker folder.
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = "memory://"
    app.conf.broker_transport = None
    app.conf.broker_transport_options = {}
    # The memory broker is one per process: start every test with an empty queue.
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge("backend-events")
    return app
