"""Publish ``backend.process_event`` for claimed occurrences (beat, run now, backfill, retry).

A burst publishes thousands of messages that differ only in three ids, so
they are built from one template instead of through ``Celery.send_task``,
which routes, validates and lays out every message afresh (most of a
10,000-event burst's publishing time). What a worker receives is the same
message: protocol 2, the same headers, properties, queue and delivery mode,
and Celery's publish signals and retry policy apply as they do to
``send_task``. The ``task-sent`` events (``task_send_sent_event``) go out as
one list per batch, the form Celery's own event receivers (Flower,
celery-exporter) read for buffered events, instead of one message each.

On a Redis broker the messages skip kombu's per-message work too: each is
filled into the Redis entry kombu would write (``scheduling.services.redis_lane``),
where nothing else (a ``before_task_publish`` receiver, compression, a
queue with ``x-expires``) asks for kombu.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from celery import Celery, signals
from django.utils import timezone
from kombu import Producer

from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME
from scheduling.services import occurrences, redis_lane
from scheduling.services.redis_lane import RedisLane

PIPELINE_SIZE = 500


def publish(
    dispatches: list[occurrences.Dispatch],
    *,
    app: Celery,
    producer: Producer | None = None,
    mark: bool = True,
) -> None:
    """Send each occurrence to the worker, with its own task id, and mark it sent.

    ``mark=False`` leaves the rows as they are, for a caller that records the
    publication itself (beat's recovery of lapsed leases).
    """
    if not dispatches:
        return
    messages = _EventMessages(app)
    with app.producer_or_acquire(producer) as active:
        sent_events: list[dict[str, Any]] | None = [] if messages.sent_event else None
        lane = messages.redis_lane(active)
        if lane is not None:
            with lane.pipeline(expected=len(dispatches)) as push:
                for dispatch in dispatches:
                    messages.push(dispatch, push, sent_events)
        else:
            # On Redis, kombu pipelines the batch (one round trip per
            # PIPELINE_SIZE messages instead of one per message); other
            # transports publish one by one.
            with active.batch(max_size=PIPELINE_SIZE):
                for dispatch in dispatches:
                    messages.publish(dispatch, active, sent_events)
        # After the messages they tell of, never before.
        if sent_events:
            _send_task_sent_events(app, active, sent_events)
    # Only after the batch was flushed: a failed flush leaves the claims with
    # their lease, to be published again when it lapses.
    if mark:
        occurrences.mark_sent(dispatches, now=timezone.now())


class _EventMessages:
    """``backend.process_event`` messages from one template: only the ids vary."""

    def __init__(self, app: Celery) -> None:
        conf = app.conf
        # Published from inside a task (a handler running an event now): the
        # ids of the task it comes from, as send_task sets them.
        parent = app.current_worker_task
        self.root_id = (parent.request.root_id or parent.request.id) if parent else None
        template = app.amqp.create_task_message(
            "",
            EVENT_TASK_NAME,
            kwargs={},
            reply_to=app.thread_oid,
            root_id=self.root_id,
            parent_id=parent.request.id if parent else None,
            create_sent_event=conf.task_send_sent_event,
            argsrepr="()",
            kwargsrepr="{}",
            # What send_task leaves there when the caller sets none.
            ignore_result=None,
        )
        self.headers, self.properties, body, self.sent_event = template
        self.embed = body[2]
        self.queue = app.amqp.queues[EVENT_QUEUE]
        # As Celery publishes to a direct exchange: the default exchange, the
        # queue's name as routing key.
        direct = self.queue.exchange.type == "direct"
        self.exchange = "" if direct else self.queue.exchange.name
        self.routing_key = EVENT_QUEUE if direct else self.queue.routing_key
        self.publish_options: dict[str, Any] = {
            "serializer": conf.task_serializer,
            "compression": conf.task_compression,
            "delivery_mode": self.queue.exchange.delivery_mode or conf.task_default_delivery_mode,
            "retry": conf.task_publish_retry,
            "retry_policy": dict(conf.task_publish_retry_policy or {}),
        }
        # On every message, as send_task does: kombu declares once per
        # connection, so one that a retry reconnected declares it again.
        self.declare = [self.queue]

    def message(
        self, *, task_id: str, root_id: str, kwargs_repr: str, event_id: str, occurrence_id: str
    ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """The body, headers and properties of one message."""
        headers = {**self.headers, "id": task_id, "root_id": root_id, "kwargsrepr": kwargs_repr}
        body = ((), {"event_id": event_id, "occurrence_id": occurrence_id}, self.embed)
        # send_task copies the reprs into the properties too.
        properties = {
            **self.properties,
            "correlation_id": task_id,
            "argsrepr": "()",
            "kwargsrepr": kwargs_repr,
        }
        return body, headers, properties

    def redis_lane(self, producer: Producer) -> RedisLane | None:
        """The Redis lane for these messages, or None where kombu must publish them."""
        if signals.before_task_publish.receivers:
            # A receiver may change each message in place: kombu lays each out.
            return None
        marks = redis_lane.MARKS
        body, headers, properties = self.message(
            task_id=marks.task_id,
            root_id=marks.root_id,
            kwargs_repr=marks.kwargs_repr,
            event_id=marks.event_id,
            occurrence_id=marks.occurrence_id,
        )
        return redis_lane.open_lane(
            producer,
            queue=self.queue,
            exchange=self.exchange,
            body=body,
            headers=headers,
            properties=properties,
            options=self.publish_options,
            max_size=PIPELINE_SIZE,
        )

    def push(
        self,
        dispatch: occurrences.Dispatch,
        push: Callable[..., None],
        sent_events: list[dict[str, Any]] | None,
    ) -> None:
        """Publish one message down the Redis lane."""
        ids = self._ids(dispatch)
        push(**ids)
        if signals.after_task_publish.receivers:
            body, headers, _ = self.message(**ids)
            self._published(body, headers)
        self._sent(ids, sent_events)

    def publish(
        self,
        dispatch: occurrences.Dispatch,
        producer: Producer,
        sent_events: list[dict[str, Any]] | None,
    ) -> None:
        """Publish one message through kombu."""
        ids = self._ids(dispatch)
        body, headers, properties = self.message(**ids)
        if signals.before_task_publish.receivers:
            # A receiver may change the message in place: its nested values
            # must be this message's own, not the template's.
            headers = copy.deepcopy(headers)
            body = (body[0], body[1], dict(self.embed))
            signals.before_task_publish.send(
                sender=EVENT_TASK_NAME,
                body=body,
                exchange=self.exchange,
                routing_key=self.routing_key,
                declare=self.declare,
                headers=headers,
                properties=properties,
                retry_policy=self.publish_options["retry_policy"],
            )
        producer.publish(
            body,
            exchange=self.exchange,
            routing_key=self.routing_key,
            headers=headers,
            declare=self.declare,
            **self.publish_options,
            **properties,
        )
        if signals.after_task_publish.receivers:
            self._published(body, headers)
        self._sent(ids, sent_events)

    def _published(self, body: Any, headers: dict[str, Any]) -> None:
        signals.after_task_publish.send(
            sender=EVENT_TASK_NAME,
            body=body,
            headers=headers,
            exchange=self.exchange,
            routing_key=self.routing_key,
        )

    def _ids(self, dispatch: occurrences.Dispatch) -> dict[str, str]:
        """What varies from one message to the next: ``message``'s arguments."""
        return {
            "task_id": dispatch.task_id,
            "root_id": self.root_id or dispatch.task_id,
            "kwargs_repr": repr(
                {"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
            ),
            "event_id": dispatch.event_id,
            "occurrence_id": dispatch.occurrence_id,
        }

    def _sent(self, ids: dict[str, str], sent_events: list[dict[str, Any]] | None) -> None:
        if self.sent_event is not None and sent_events is not None:
            sent_events.append(
                {
                    **self.sent_event,
                    "uuid": ids["task_id"],
                    "root_id": ids["root_id"],
                    "kwargs": ids["kwargs_repr"],
                    "queue": EVENT_QUEUE,
                    "exchange": self.exchange,
                    "routing_key": self.routing_key,
                }
            )


def _send_task_sent_events(app: Celery, producer: Producer, events: list[dict[str, Any]]) -> None:
    """Publish task-sent events as ``task.multi`` messages of up to PIPELINE_SIZE each.

    Celery's dispatcher buffers the events of a group given as
    ``buffer_group`` and flushes them as one list, which its receivers
    unpack (``EventReceiver._receive``). Like any event, best effort: a
    failure to send them is swallowed by the dispatcher, never the firing's.
    """
    dispatcher = app.events.Dispatcher(
        channel=producer.channel, buffer_group=["task"], buffer_limit=PIPELINE_SIZE
    )
    for fields in events:
        dispatcher.send("task-sent", **fields)
    dispatcher.flush(errors=False)
