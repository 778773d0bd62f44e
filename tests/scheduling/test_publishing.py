"""Occurrences published from one template are the messages ``send_task`` would send."""

from __future__ import annotations

import contextlib
import uuid
from functools import partial
from typing import Any

import pytest
from celery import Celery
from kombu import Connection, Consumer, Exchange, Queue

from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME
from scheduling.services.occurrences import Dispatch
from scheduling.services.publishing import PIPELINE_SIZE, publish


@pytest.fixture
def app() -> Celery:
    app = Celery("publish-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    # A broker of this test's own: the memory transport is one per process.
    # Celery copied the settings' URL into the read and write URLs already.
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = "memory://"
    app.conf.broker_transport = None  # the URL's, not the settings' Redis transport
    app.conf.broker_transport_options = {}
    app.conf.task_send_sent_event = True
    # The memory broker is one per process: start with an empty queue.
    with app.connection_for_write() as conn, contextlib.suppress(Exception):
        conn.default_channel.queue_purge(EVENT_QUEUE)
    return app


def _dispatch(n: int = 0) -> Dispatch:
    return Dispatch(str(uuid.uuid4()), str(uuid.uuid4()), f"task-{n}-{uuid.uuid4()}")


def _take(conn: Connection, queue: str) -> list[Any]:
    channel = conn.default_channel
    messages = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        messages.append(message)
    return messages


def _comparable(message: Any) -> dict[str, Any]:
    properties = dict(message.properties)
    # Set by the transport per message, whoever publishes.
    properties.pop("delivery_tag", None)
    properties.pop("delivery_info", None)
    return {
        "headers": message.headers,
        "properties": properties,
        "body": message.decode(),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
    }


def test_a_message_published_is_what_send_task_publishes(app: Celery) -> None:
    dispatch = _dispatch()
    kwargs = {"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
    with app.connection_for_write() as conn:
        conn.default_channel.queue_declare(EVENT_QUEUE)
        publish([dispatch], app=app, mark=False)
        [ours] = _take(conn, EVENT_QUEUE)
        with app.producer_or_acquire() as producer:
            app.send_task(
                EVENT_TASK_NAME,
                kwargs=kwargs,
                task_id=dispatch.task_id,
                queue=EVENT_QUEUE,
                producer=producer,
                argsrepr="()",
                kwargsrepr=repr(kwargs),
            )
        [celerys] = _take(conn, EVENT_QUEUE)

    assert _comparable(ours) == _comparable(celerys)
    assert ours.headers["id"] == ours.headers["root_id"] == dispatch.task_id
    assert ours.properties["correlation_id"] == dispatch.task_id
    assert ours.decode()[1] == kwargs
    assert ours.properties["delivery_mode"] == 2  # persistent


def test_every_dispatch_gets_its_own_ids(app: Celery) -> None:
    dispatches = [_dispatch(n) for n in range(PIPELINE_SIZE + 20)]
    with app.connection_for_write() as conn:
        conn.default_channel.queue_declare(EVENT_QUEUE)
        publish(dispatches, app=app, mark=False)
        messages = _take(conn, EVENT_QUEUE)

    assert [m.headers["id"] for m in messages] == [d.task_id for d in dispatches]
    assert [m.decode()[1]["occurrence_id"] for m in messages] == [
        d.occurrence_id for d in dispatches
    ]
    assert [m.headers["kwargsrepr"] for m in messages] == [
        repr({"event_id": d.event_id, "occurrence_id": d.occurrence_id}) for d in dispatches
    ]


def test_task_sent_events_reach_an_event_receiver_in_lists(app: Celery) -> None:
    dispatches = [_dispatch(n) for n in range(PIPELINE_SIZE + 20)]
    seen: list[dict[str, Any]] = []
    with app.connection_for_write() as conn:
        receiver = app.events.Receiver(conn, handlers={"task-sent": seen.append})
        # Bind the receiver's queue before anything is published.
        [consumer] = receiver.get_consumers(partial(Consumer, conn.default_channel), None)
        consumer.consume()
        # And a plain queue on the events exchange, to count the messages.
        raw = Queue("raw-events", Exchange("celeryev", type="topic"), routing_key="#")
        raw(conn.default_channel).declare()
        try:
            publish(dispatches, app=app, mark=False)
            with contextlib.suppress(TimeoutError):
                for _ in range(10):
                    conn.drain_events(timeout=0.2)
            messages = _take(conn, "raw-events")
        finally:
            raw(conn.default_channel).delete()

    assert [e["uuid"] for e in seen] == [d.task_id for d in dispatches]
    # One message per batch of events, not one per event.
    assert [len(m.decode()) for m in messages] == [PIPELINE_SIZE, 20]
    assert {m.delivery_info["routing_key"] for m in messages} == {"task.multi"}
    first = seen[0]
    assert first["name"] == EVENT_TASK_NAME
    assert first["queue"] == EVENT_QUEUE
    assert first["kwargs"] == repr(
        {"event_id": dispatches[0].event_id, "occurrence_id": dispatches[0].occurrence_id}
    )


def test_no_task_sent_events_when_they_are_off(app: Celery) -> None:
    app.conf.task_send_sent_event = False
    seen: list[dict[str, Any]] = []
    with app.connection_for_write() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": seen.append})
        [consumer] = receiver.get_consumers(partial(Consumer, conn.default_channel), None)
        consumer.consume()
        publish([_dispatch()], app=app, mark=False)
        with contextlib.suppress(TimeoutError):
            conn.drain_events(timeout=0.2)

    assert seen == []
