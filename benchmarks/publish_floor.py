"""The broker's floor for a burst: how fast messages reach Redis, without a database.

    .venv/bin/python benchmarks/publish_floor.py [--broker redis://127.0.0.1:6379/13]
        [--messages 10000] [--runs 3]

Each way publishes the same number of ``backend.process_event`` messages to an
emptied Redis database and counts until all are in the queue's list (what a
worker sees):

- raw LPUSH: the bytes of one real message, pipelined 500 at a time by redis-py
  (no kombu, no Celery): the floor of the machine and Redis;
- send_task: ``Celery.send_task`` for each, in kombu's producer batch (what beat
  did before its messages were built from a template);
- ours: ``scheduling.services.publishing.publish`` without marking anything sent
  (no database), with and without ``task-sent`` events: on Redis, the Redis lane
  (``scheduling.services.redis_lane``).

Messages/s, the median of ``--runs``. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "backend-events"


def _setup(broker: str) -> Any:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ.setdefault("VAR_DIR", "/tmp/publish-floor")
    os.environ["CELERY_BROKER_URL"] = broker
    import django

    django.setup()
    from project.celery import app

    return app


def _wait_for(client: Any, count: int) -> None:
    while client.llen(QUEUE) < count:
        time.sleep(0.0005)


def _raw(app: Any, client: Any, n: int) -> None:
    from scheduling.services.occurrences import Dispatch
    from scheduling.services.publishing import publish

    # One real message as kombu stores it, taken from the queue and pushed again n times.
    publish(
        [Dispatch(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))], app=app, mark=False
    )
    _wait_for(client, 1)
    message = client.rpop(QUEUE)
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.lpush(QUEUE, message)
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    _wait_for(client, n)
    _RESULTS["raw LPUSH (pipelined, no kombu)"].append(n / (time.perf_counter() - started))


def _send_task(app: Any, client: Any, n: int, events: bool) -> None:
    app.conf.task_send_sent_event = events
    ids = [(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(n)]
    started = time.perf_counter()
    with app.producer_or_acquire() as producer, producer.batch(max_size=500):
        for event_id, occurrence_id, task_id in ids:
            kwargs = {"event_id": event_id, "occurrence_id": occurrence_id}
            app.send_task(
                "backend.process_event",
                kwargs=kwargs,
                task_id=task_id,
                queue=QUEUE,
                producer=producer,
                argsrepr="()",
                kwargsrepr=repr(kwargs),
            )
    _wait_for(client, n)
    label = f"send_task in a batch, task-sent events {'on' if events else 'off'}"
    _RESULTS[label].append(n / (time.perf_counter() - started))


def _ours(app: Any, client: Any, n: int, events: bool) -> None:
    from scheduling.services.occurrences import Dispatch
    from scheduling.services.publishing import publish

    app.conf.task_send_sent_event = events
    dispatches = [
        Dispatch(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(n)
    ]
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for start in range(0, n, 500):  # as beat publishes: a batch at a time
            publish(dispatches[start : start + 500], app=app, producer=producer, mark=False)
    _wait_for(client, n)
    label = f"ours (template, batches of 500), task-sent events {'on' if events else 'off'}"
    _RESULTS[label].append(n / (time.perf_counter() - started))


_RESULTS: dict[str, list[float]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = _setup(args.broker)
    import redis

    client = redis.Redis.from_url(args.broker)
    ways = [
        ("raw", lambda: _raw(app, client, args.messages)),
        ("send_task on", lambda: _send_task(app, client, args.messages, True)),
        ("send_task off", lambda: _send_task(app, client, args.messages, False)),
        ("ours on", lambda: _ours(app, client, args.messages, True)),
        ("ours off", lambda: _ours(app, client, args.messages, False)),
    ]
    for key in (
        "raw LPUSH (pipelined, no kombu)",
        "send_task in a batch, task-sent events on",
        "send_task in a batch, task-sent events off",
        "ours (template, batches of 500), task-sent events on",
        "ours (template, batches of 500), task-sent events off",
    ):
        _RESULTS[key] = []
    for _ in range(args.runs):
        for _name, way in ways:  # interleaved, so that load changes hit every way alike
            client.flushdb()
            way()
    client.flushdb()
    print(f"{args.messages:,} messages to {args.broker}, median of {args.runs}:")
    print("| way | messages/s |\n|---|---:|")
    for label, rates in _RESULTS.items():
        print(f"| {label} | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()
