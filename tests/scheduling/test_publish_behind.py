"""Batches published in a thread while the caller claims the next (scheduling.publish_behind)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from scheduling.publish_behind import PublishBehind
from scheduling.services.occurrences import Dispatch


def batch(n: int) -> list[Dispatch]:
    return [Dispatch(f"event-{n}", f"occurrence-{n}", f"task-{n}")]


def test_every_batch_handed_over_is_published_in_order_before_leaving() -> None:
    published: list[str] = []
    with PublishBehind(lambda b: published.append(b[0].event_id)) as behind:
        for n in range(5):
            behind.put(batch(n))
    assert published == [f"event-{n}" for n in range(5)]


def test_the_caller_goes_on_while_a_batch_is_published() -> None:
    # The first publish waits until the caller has handed over the next
    # batch: in turn, this would wait for ever (here: fail after 5 s).
    second_handed_over = threading.Event()
    publishers: set[str] = set()

    def publish(b: list[Dispatch]) -> None:
        publishers.add(threading.current_thread().name)
        if b[0].event_id == "event-0":
            assert second_handed_over.wait(5), "the caller waited for the publish"

    with PublishBehind(publish) as behind:
        behind.put(batch(0))
        behind.put(batch(1))
        second_handed_over.set()
    assert publishers == {"publish-behind"}
    assert "publish-behind" not in {t.name for t in threading.enumerate()}


def test_a_failure_is_raised_to_the_caller_and_nothing_after_it_is_published() -> None:
    published: list[str] = []
    failed = threading.Event()

    def publish(b: list[Dispatch]) -> None:
        if b[0].event_id == "event-1":
            failed.set()
            raise ConnectionError("broker gone")
        published.append(b[0].event_id)

    def hand_over_six() -> None:
        with PublishBehind(publish) as behind:
            behind.put(batch(0))
            behind.put(batch(1))
            assert failed.wait(5)
            for n in range(2, 6):
                behind.put(batch(n))  # raises at once or at the latest on leaving

    with pytest.raises(ConnectionError, match="broker gone"):
        hand_over_six()
    assert published == ["event-0"]


def test_the_callers_own_error_wins_and_batches_handed_over_are_still_published() -> None:
    published: list[str] = []

    def fail_after_two() -> None:
        with PublishBehind(lambda b: published.append(b[0].event_id)) as behind:
            behind.put(batch(0))
            behind.put(batch(1))
            raise RuntimeError("database gone")

    with pytest.raises(RuntimeError, match="database gone"):
        fail_after_two()
    assert published == ["event-0", "event-1"]


@pytest.mark.django_db(transaction=True)
def test_the_threads_database_connection_is_closed_with_it() -> None:
    used = []

    def publish(b: list[Dispatch]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        used.append(connections["default"])  # the thread's own wrapper

    with PublishBehind(publish) as behind:
        behind.put(batch(0))
    [wrapper] = used
    assert wrapper is not connections["default"]
    assert wrapper.connection is None
