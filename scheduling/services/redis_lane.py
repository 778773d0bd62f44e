"""Event messages written to a Redis broker from one template: kombu's bytes, without kombu's work.

kombu's ``Producer.publish`` lays every message out afresh: it serialises the
body, encodes it in base64, builds the message and its properties, routes it
through the exchange and serialises the whole again, about 90 µs a message
here, most of a burst's publishing time (``docs/benchmarks.md``). A burst's
messages differ only in their ids, so the lane builds the Redis entry of one
message once, as kombu's Redis channel would LPUSH it, with a mark where each
id goes, and then fills in the ids of each message by string formatting: the
base64 body and the entry are the same bytes kombu writes, for a few µs. The
LPUSHes go through one redis-py pipeline on the channel's own connection
pool, as kombu's producer batch sends them.

The lane is taken only where those bytes are all there is to it
(``open_lane``): a kombu Redis channel that batches publishes, the queue
reached through the default exchange with no ``x-expires``, JSON bodies
without compression, and no ``before_task_publish`` receiver (one may change
each message). Elsewhere the caller publishes through kombu.
``tests/scheduling/test_redis_lane.py`` compares the lane's bytes with kombu's
on a real Redis: the kombu internals read here (``_inplace_augment_message``,
``_q_for_pri``, ``_expires``) are checked there at each upgrade.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from kombu import Producer, Queue
from kombu.entity import maybe_delivery_mode
from kombu.exceptions import BatchPublishError  # type: ignore[attr-defined]  # kombu 5.6+, no stub yet
from kombu.serialization import dumps as serialize
from kombu.utils.json import dumps as json_dumps

from scheduling import random_ids

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Marks:
    """What stands for each id in a message's template (plain ASCII: JSON keeps it as is)."""

    task_id: str = "@@lane-task-id@@"
    root_id: str = "@@lane-root-id@@"
    kwargs_repr: str = "@@lane-kwargs-repr@@"
    event_id: str = "@@lane-event-id@@"
    occurrence_id: str = "@@lane-occurrence-id@@"


MARKS = Marks()
_BODY_MARK = "@@lane-body@@"
_TAG_MARK = "@@lane-delivery-tag@@"


def _format_template(text: str, marks: list[str]) -> str | None:
    """``text`` as a ``str.format`` template whose fields are ``marks``, in that order.

    None if a mark is missing: the message is not laid out as the lane expects.
    """
    template = text.replace("{", "{{").replace("}", "}}")
    for index, mark in enumerate(marks):
        if mark not in template:
            return None
        template = template.replace(mark, f"{{{index}}}")
    return template


class RedisLane:
    """Writes one kind of message to one Redis list, from its template.

    ``open_lane`` builds it from a message laid out with ``MARKS`` for ids;
    ``pipeline`` then pushes message after message with only the ids new.
    """

    def __init__(self, channel: Any, key: str, entry: str, body: str, max_size: int) -> None:
        self.channel = channel
        self.key = key
        self._entry = entry
        self._body = body
        self.max_size = max_size

    @contextmanager
    def pipeline(self, expected: int = 0) -> Iterator[_Push]:
        """Yield a push function; what it took is sent every ``max_size`` and at the end.

        As kombu's batch: a failed send raises ``BatchPublishError`` (delivery
        uncertain), and an exception inside the block discards what is not sent yet.
        ``expected``: how many messages the caller means to push, if it knows
        (it may push more), so that no more delivery tags are made than needed.
        """
        with self.channel.conn_or_acquire() as client:
            pipe = client.pipeline(transaction=False)
            push = _Push(self, pipe, expected)
            try:
                yield push
                push.flush()
            finally:
                pipe.reset()

    def entry(
        self,
        *,
        task_id: str,
        root_id: str,
        kwargs_repr: str,
        event_id: str,
        occurrence_id: str,
        delivery_tag: str,
    ) -> str:
        """The Redis entry of one message: what kombu's channel would LPUSH for it."""
        body = self._body.format(_json(event_id), _json(occurrence_id))
        encoded = base64.b64encode(body.encode()).decode()
        return self._entry.format(
            _json(task_id), _json(root_id), _json(kwargs_repr), encoded, _json(delivery_tag)
        )


class _Push:
    def __init__(self, lane: RedisLane, pipe: Any, expected: int) -> None:
        self.lane = lane
        self.pipe = pipe
        self.buffered = 0
        self._left = expected
        self._tags: list[str] = []

    def __call__(self, **ids: str) -> None:
        if not self._tags:
            # Random, as kombu's channel makes each (``_next_delivery_tag``),
            # but up to a pipeline's worth from one read (scheduling.random_ids).
            size = self.lane.max_size
            self._tags = _delivery_tags(min(size, self._left) if self._left > 0 else size)
        entry = self.lane.entry(**ids, delivery_tag=self._tags.pop())
        self._left -= 1
        self.pipe.lpush(self.lane.key, entry)
        self.buffered += 1
        if self.buffered >= self.lane.max_size:
            self.flush()

    def flush(self) -> None:
        if not self.buffered:
            return
        self.buffered = 0
        try:
            self.pipe.execute()
        except Exception as exc:
            raise BatchPublishError("Redis publish batch failed; delivery is uncertain") from exc


def _delivery_tags(count: int) -> list[str]:
    """Delivery tags for ``count`` messages: random UUIDs, as kombu's (tests number them)."""
    return random_ids.uuid4_strings(count)


def _json(text: str) -> str:
    """``text`` as JSON writes it inside a string (kombu's JSON is ASCII-only)."""
    return encode_basestring_ascii(text)[1:-1]


def open_lane(
    producer: Producer,
    *,
    queue: Queue,
    exchange: str,
    body: Any,
    headers: dict[str, Any],
    properties: dict[str, Any],
    options: dict[str, Any],
    max_size: int,
) -> RedisLane | None:
    """A lane for messages like this one (ids as ``MARKS``), or None where kombu must publish.

    ``options`` are the ``serializer``, ``compression``, ``delivery_mode``,
    ``retry`` and ``retry_policy`` the caller would give ``Producer.publish``.
    Declares the queue, as kombu does before a publish.
    """
    transport = producer.connection.transport if producer.connection is not None else None
    if getattr(transport, "driver_type", None) != "redis":
        return None
    # Imported only for a Redis broker: kombu's Redis transport needs redis-py,
    # which a project on another broker may not have.
    from kombu.transport import redis as kombu_redis

    if not isinstance(producer.channel, kombu_redis.Channel):
        return None
    channel: Any = producer.channel  # kombu's stubs lack the Redis channel's internals
    if not channel.supports_batch_publish:
        # Redis set to retry on timeouts: a pipeline could be sent twice.
        return None
    if exchange or options["compression"] or options["serializer"] != "json":
        return None
    producer.maybe_declare(queue, retry=options["retry"], **options["retry_policy"])
    if queue.name in channel._expires:
        # Declared with x-expires: kombu adds a PEXPIRE per message.
        return None
    # What Producer.publish and the virtual channel do to a message, in their order.
    properties = {**properties, "delivery_mode": maybe_delivery_mode(options["delivery_mode"])}
    content_type, content_encoding, data = serialize(body, serializer="json")
    message = channel.prepare_message(data, 0, content_type, content_encoding, headers, properties)
    channel._inplace_augment_message(message, exchange, queue.name)
    key = channel._q_for_pri(queue.name, channel._get_message_priority(message, reverse=False))
    message["body"] = _BODY_MARK
    message["properties"]["delivery_tag"] = _TAG_MARK
    entry = _format_template(
        json_dumps(message),
        [MARKS.task_id, MARKS.root_id, MARKS.kwargs_repr, _BODY_MARK, _TAG_MARK],
    )
    body_template = _format_template(data, [MARKS.event_id, MARKS.occurrence_id])
    if entry is None or body_template is None:
        logger.warning("Redis messages are not laid out as expected: published through kombu")
        return None
    return RedisLane(channel, key, entry, body_template, max_size)
