"""kombu's filesystem transport, with its exchange files written and read without a race.

Selected by ``CELERY_BROKER_TRANSPORT`` for ``filesystem://`` (project/settings.py),
the embedded default's broker. Remove it once a kombu release binds queues as
below: ``tests/scheduling/test_filesystem_transport.py`` tells.

The race (kombu 5.7.0): a fanout exchange (each worker's control ``pidbox``) is a
JSON file in the control folder listing its queues. A process binding the first
queue opens the file with ``"wb"``, which creates and empties it, and only then
takes the lock and writes; another process that finds the file in between takes
the lock, reads nothing and fails to decode it. A worker starting then stops at
once ("Unrecoverable error: JSONDecodeError", seen in the chaos run, where
workers are killed and restarted beside each other), and one killed in between
leaves the file empty for every worker after it. celery/kombu#1551 and
treeverse/dvc-task#73 report the same symptom.

Here a bind creates the file without emptying it, reads and rewrites it under
the lock, and an empty file is read (by a bind or a fanout publish) as an
exchange with no queues yet.
"""

from __future__ import annotations

import os
from fcntl import LOCK_EX, LOCK_SH
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads


class Channel(filesystem.Channel):
    def get_table(self, exchange: str) -> list[Any]:
        file = self._exchange_file(exchange)  # type: ignore[attr-defined]
        try:
            with file.open("rb") as f_obj:
                filesystem.lock(f_obj, LOCK_SH)
                try:
                    return _queues(f_obj.read())
                finally:
                    filesystem.unlock(f_obj)
        except FileNotFoundError:
            return []

    def _queue_bind(
        self, exchange: str, routing_key: str | None, pattern: str | None, queue: str | None
    ) -> None:
        file = self._exchange_file(exchange)  # type: ignore[attr-defined]
        self.control_folder.mkdir(exist_ok=True)
        binding = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            # Created if missing, never emptied before the lock is held.
            descriptor = os.open(file, os.O_RDWR | os.O_CREAT, 0o666)
            with os.fdopen(descriptor, "rb+", buffering=0) as f_obj:
                filesystem.lock(f_obj, LOCK_EX)
                try:
                    queues = _queues(f_obj.read())
                    if binding not in queues:
                        queues.insert(0, binding)
                        f_obj.seek(0)
                        f_obj.truncate()
                        f_obj.write(str_to_bytes(dumps(queues)))
                finally:
                    filesystem.unlock(f_obj)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc


def _queues(content: bytes) -> list[Any]:
    # Empty: created by a bind that has not written yet, or by one killed first.
    if not content.strip():
        return []
    return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(content))]


class Transport(filesystem.Transport):
    Channel = Channel
