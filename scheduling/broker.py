"""What beat asks the broker directly: how many messages wait in a queue."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import Celery
from kombu import Connection
from kombu.exceptions import ChannelError

logger = logging.getLogger(__name__)


class QueueDepth:
    """Counts the messages ready in one queue, over a connection of its own.

    Its own connection so that a failed count (AMQP closes the channel after
    a passive declare of a missing queue) never disturbs beat's publishing.
    Any broker trouble gives None, "unknown", and a new connection next time.
    """

    def __init__(self, app: Celery, queue: str) -> None:
        self.app = app
        self.queue = queue
        self._connection: Connection | None = None

    def __call__(self) -> int | None:
        try:
            if self._connection is None:
                self._connection = self.app.connection_for_read()
            return self._count(self._connection)
        except ChannelError:
            self.close()
            return 0  # AMQP: the queue was never declared, so nothing waits in it
        except Exception as exc:  # noqa: BLE001 - any broker trouble means "unknown"
            logger.debug("could not count the messages waiting in %s: %s", self.queue, exc)
            self.close()
            return None

    def _count(self, connection: Connection) -> int:
        # kombu's virtual transports (Redis, the filesystem) count what they
        # store; AMQP answers a passive declare with the ready count (the
        # messages no worker holds).
        channel = connection.default_channel
        size = getattr(channel, "_size", None)
        if size is not None:
            return int(size(self.queue))
        declared: Any = channel.queue_declare(queue=self.queue, passive=True)  # type: ignore[attr-defined]
        return int(declared.message_count)

    def close(self) -> None:
        if self._connection is not None:
            # Being thrown away: a failure to close it changes nothing.
            with contextlib.suppress(Exception):
                self._connection.release()
            self._connection = None
