"""kombu's Redis transport, with a workaround for a worker that dies when Redis restarts.

Selected by ``CELERY_BROKER_TRANSPORT`` for ``redis://`` and ``rediss://``
broker URLs (project/settings.py). Remove it once a celery/kombu release
fixes the crash below: tests/e2e/test_redis_restart.py tells.

The crash (celery 5.7.0, kombu 5.7.0; the newest releases as of this
writing): when the broker connection drops, the worker's consumer
(``Consumer.on_connection_error_after_connected``) calls
``connection.collect()`` and then ``connection.close()``; the second call
came with celery's fix for GH-9705 (celery/celery#10242). ``collect()``
closes the channels and then detaches the transport from the kombu
``Connection`` (``transport.client = None``), but leaves the default channel
in place. If the Redis socket that reported the error was not the channel's
BRPOP socket (the pidbox's pub/sub socket often is), the BRPOP reply is read
first in ``Channel.close()``, raises, and that close stops early: the
channel's unacknowledged messages (a task with an ETA, such as a handler's
retry with a countdown, or a running ``acks_late`` task) are not restored yet.
``close()`` then closes the default channel again; the restore needs a new
Redis pool, built from ``transport.client.hostname``:
``AttributeError: 'NoneType' object has no attribute 'hostname'``. It is no
connection error, so nothing ignores it: "Unrecoverable error", and the
worker exits. kombu's issues #582 and #970 were the same AttributeError on
other late closes.

The workaround: each channel keeps the ``Connection`` it was opened for, and
builds its connection parameters from it when the transport has been
detached. The late restore then behaves as the first one would have: it
reaches Redis and puts the messages back on their queue, or, Redis still
being down, raises a connection error that celery ignores before it
reconnects (the messages are then redelivered after the visibility timeout,
as with an unpatched kombu when Redis is down).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    def __init__(self, connection: redis.Transport, *args: Any, **kwargs: Any) -> None:
        # Before super().__init__, which connects (and so may need it).
        self._opened_for = connection.client
        super().__init__(connection, *args, **kwargs)

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is not None:
            return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        # Detached by Connection.collect(): lend the transport its old client
        # for this one read. The consumer is single-threaded and nothing else
        # uses a detached transport.
        transport.client = self._opened_for
        try:
            return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        finally:
            transport.client = None


class Transport(redis.Transport):
    Channel = Channel
