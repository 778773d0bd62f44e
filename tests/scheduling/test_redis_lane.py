"""The Redis lane writes the bytes kombu writes, and steps aside where kombu must publish.

On a redis-server of the tests' own: each message is compared, byte for
byte, with what kombu's producer LPUSHes for the same ids and delivery tag.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery, signals
from kombu.exceptions import BatchPublishError

from scheduling import redis_transport
from scheduling.conf import EVENT_QUEUE, EVENT_TASK_NAME
from scheduling.services import redis_lane
from scheduling.services.occurrences import Dispatch
from scheduling.services.publishing import PIPELINE_SIZE, _EventMessages, publish
from tests.e2e.conftest import free_port
from tests.redis_server import RedisServer, running_redis

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(free_port(), Path(tmp_path_factory.mktemp("lane")) / "redis.log") as server:
        yield server


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def app(server: RedisServer, client: redis.Redis) -> Celery:
    """The project's Celery configuration, on this module's Redis."""
    app = Celery("lane-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = server.url
    app.conf.broker_transport = "scheduling.redis_transport:Transport"
    app.conf.broker_transport_options = {}
    app.conf.task_send_sent_event = False
    return app


@pytest.fixture
def numbered_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery tags from a counter, not random: ``_untagged`` can find them in the bytes.

    kombu's channel makes one per message; the lane a pipeline's worth at a time.
    """
    counter = itertools.count()
    monkeypatch.setattr(
        redis_transport.Channel, "_next_delivery_tag", lambda self: f"tag-{next(counter)}"
    )
    monkeypatch.setattr(
        redis_lane, "_delivery_tags", lambda n: [f"tag-{next(counter)}" for _ in range(n)]
    )


def _untagged(entries: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """The entries with their delivery tag blanked, and the tags."""
    tags = [re.search(rb'"delivery_tag": "(tag-\d+)"', e).group(1) for e in entries]  # type: ignore[union-attr]
    return [re.sub(rb'"tag-\d+"', b'"tag"', e) for e in entries], tags


@pytest.fixture
def kombu_lays_out_each() -> Iterator[list[dict[str, Any]]]:
    """A before_task_publish receiver that changes nothing: kombu then publishes."""
    seen: list[dict[str, Any]] = []

    def receiver(headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers)

    signals.before_task_publish.connect(receiver, weak=False)
    try:
        yield seen
    finally:
        signals.before_task_publish.disconnect(receiver)


def _dispatch(n: int = 0) -> Dispatch:
    return Dispatch(str(uuid.uuid4()), str(uuid.uuid4()), f"task-{n}-{uuid.uuid4()}")


def _queued(client: redis.Redis) -> list[bytes]:
    """The queue's entries, oldest first (kombu LPUSHes; workers BRPOP)."""
    return list(reversed(client.lrange(EVENT_QUEUE, 0, -1)))


def _lane(app: Celery) -> redis_lane.RedisLane | None:
    with app.producer_or_acquire() as producer:
        return _EventMessages(app).redis_lane(producer)


def test_the_lane_writes_the_bytes_kombu_writes(
    app: Celery, client: redis.Redis, numbered_tags: None, request: pytest.FixtureRequest
) -> None:
    dispatches = [_dispatch(n) for n in range(PIPELINE_SIZE + 3)]
    # One odd id: JSON must escape it in the entry as kombu's serialiser does.
    dispatches.append(Dispatch(str(uuid.uuid4()), 'quote " and é', "task-odd"))
    assert _lane(app) is not None

    publish(dispatches, app=app, mark=False)
    ours, our_tags = _untagged(_queued(client))
    client.delete(EVENT_QUEUE)
    seen = request.getfixturevalue("kombu_lays_out_each")
    publish(dispatches, app=app, mark=False)
    kombus, _ = _untagged(_queued(client))

    assert len(seen) == len(dispatches)  # kombu did lay each out
    assert ours == kombus
    assert len(set(our_tags)) == len(dispatches)  # a tag of its own each, as kombu gives
    first = json.loads(ours[0])
    assert first["headers"]["id"] == dispatches[0].task_id
    assert first["properties"]["delivery_info"] == {"exchange": "", "routing_key": EVENT_QUEUE}


def test_a_batch_reads_the_systems_randomness_once_per_pipeline(
    app: Celery, client: redis.Redis, urandom_reads: list[int]
) -> None:
    # One os.urandom per message (kombu's uuid4 per delivery tag) lets go of
    # the interpreter lock each time: beside beat's claiming thread, each
    # wait for it back was most of a message's cost (scheduling.random_ids).
    dispatches = [_dispatch(n) for n in range(PIPELINE_SIZE + 3)]
    reads = urandom_reads
    reads.clear()  # the dispatches' own ids
    publish(dispatches, app=app, mark=False)

    # The tags' two reads, and a couple of the batch's own (its producer's).
    assert [size for size in reads if size > 16] == [16 * PIPELINE_SIZE, 16 * 3]
    assert len(reads) <= 4
    tags = [json.loads(entry)["properties"]["delivery_tag"] for entry in _queued(client)]
    assert len(set(tags)) == len(dispatches)
    assert {uuid.UUID(tag).version for tag in tags} == {4}


def test_a_consumer_reads_the_lane_messages_as_sent(app: Celery) -> None:
    dispatches = [_dispatch(n) for n in range(3)]
    publish(dispatches, app=app, mark=False)

    with app.connection_for_read() as conn:
        channel = conn.default_channel
        received = [channel.basic_get(EVENT_QUEUE, no_ack=True) for _ in dispatches]

    assert [m.headers["id"] for m in received] == [d.task_id for d in dispatches]
    assert [m.headers["task"] for m in received] == [EVENT_TASK_NAME] * 3
    assert [m.decode()[1] for m in received] == [
        {"event_id": d.event_id, "occurrence_id": d.occurrence_id} for d in dispatches
    ]


def test_a_receiver_that_changes_messages_gets_kombu(app: Celery, client: redis.Redis) -> None:
    def stamp(headers: dict[str, Any], **_: Any) -> None:
        headers["stamped"] = "yes"

    signals.before_task_publish.connect(stamp, weak=False)
    try:
        assert _lane(app) is None
        publish([_dispatch()], app=app, mark=False)
    finally:
        signals.before_task_publish.disconnect(stamp)

    [entry] = _queued(client)
    assert json.loads(entry)["headers"]["stamped"] == "yes"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("task_compression", "gzip"), ("task_serializer", "pickle")],
    ids=["compressed", "not JSON"],
)
def test_no_lane_for_a_body_it_cannot_lay_out(
    app: Celery, client: redis.Redis, setting: str, value: str
) -> None:
    app.conf[setting] = value
    app.conf.accept_content = ["json", "pickle"]
    assert _lane(app) is None

    publish([_dispatch()], app=app, mark=False)
    assert len(_queued(client)) == 1


def _declare(app: Celery, *, expires: float | None) -> None:
    queue = app.amqp.queues[EVENT_QUEUE]
    queue.expires = expires
    with app.producer_or_acquire() as producer:
        # Declared anew: kombu's pools keep connections (and what they
        # declared) across apps of one broker URL.
        queue(producer.channel).declare()


def test_no_lane_for_a_queue_that_expires(app: Celery, client: redis.Redis) -> None:
    _declare(app, expires=60.0)
    try:
        assert _lane(app) is None
        publish([_dispatch()], app=app, mark=False)
    finally:
        _declare(app, expires=None)

    assert len(_queued(client)) == 1
    assert 0 < client.pttl(EVENT_QUEUE) <= 60_000  # kombu's PEXPIRE


def test_no_lane_on_other_brokers(app: Celery) -> None:
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = "memory://"
    app.conf.broker_transport = None
    assert _lane(app) is None


def test_what_an_error_interrupts_is_not_sent(app: Celery, client: redis.Redis) -> None:
    lane = _lane(app)
    assert lane is not None
    marks = redis_lane.MARKS
    ids = {field: getattr(marks, field) for field in marks.__dataclass_fields__}

    def push_then_fail() -> None:
        with lane.pipeline() as push:
            push(**ids)
            raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError):
        push_then_fail()

    assert _queued(client) == []


def test_a_failed_send_says_delivery_is_uncertain(app: Celery, server: RedisServer) -> None:
    lane = _lane(app)
    assert lane is not None
    ids = {field: "x" for field in redis_lane.MARKS.__dataclass_fields__}
    server.stop()
    try:
        with pytest.raises(BatchPublishError, match="uncertain"), lane.pipeline() as push:
            push(**ids)
    finally:
        server.start()


def test_no_lane_where_redis_retries_on_timeouts(server: RedisServer, client: redis.Redis) -> None:
    # A pipeline retried after a timeout could be written twice: kombu
    # publishes one by one then, and so does this.
    app = Celery("lane-retrying", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    # Another database of the same server: a connection pool of its own.
    url = server.url.rsplit("/", 1)[0] + "/1"
    app.conf.broker_url = app.conf.broker_read_url = app.conf.broker_write_url = url
    app.conf.broker_transport = "scheduling.redis_transport:Transport"
    app.conf.broker_transport_options = {"retry_on_timeout": True}
    assert _lane(app) is None
