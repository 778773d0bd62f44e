"""The embedded broker's exchange files: bound without a race (scheduling.filesystem_transport)."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

TRANSPORT = "scheduling.filesystem_transport:Transport"


def _connection(folder: Path, transport: str = TRANSPORT) -> Connection:
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
    }
    for name in ("queue", "control"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport=transport, transport_options=options)


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[Any]:
    with _connection(tmp_path) as connection:
        yield connection.default_channel


def test_the_embedded_default_uses_it() -> None:
    if settings.BROKER_KIND == "filesystem":
        assert settings.CELERY_BROKER_TRANSPORT == TRANSPORT


def test_an_exchange_file_left_empty_is_an_exchange_with_no_queues(channel, tmp_path) -> None:
    # A bind killed between creating the file and writing it left it empty.
    (tmp_path / "control" / "pidbox.exchange").write_bytes(b"")

    assert channel.get_table("pidbox") == []
    channel._queue_bind("pidbox", "", "", "worker-1.pidbox")
    assert [q.queue for q in channel.get_table("pidbox")] == ["worker-1.pidbox"]
    stored = json.loads((tmp_path / "control" / "pidbox.exchange").read_text())
    assert stored == [["", "", "worker-1.pidbox"]]


def test_kombus_own_transport_still_fails_on_it(tmp_path) -> None:
    # When this fails, kombu binds without the race: remove the module.
    (tmp_path / "control").mkdir()
    (tmp_path / "control" / "pidbox.exchange").write_bytes(b"")
    with (
        _connection(tmp_path, transport="filesystem") as connection,
        pytest.raises(json.JSONDecodeError),
    ):
        connection.default_channel._queue_bind("pidbox", "", "", "worker-1.pidbox")


def test_a_queue_bound_twice_is_listed_once_and_a_shorter_table_leaves_no_tail(
    channel, tmp_path
) -> None:
    file = tmp_path / "control" / "pidbox.exchange"
    file.write_text(json.dumps([["", "", "a-queue-with-a-long-name"]]) + " " * 40)
    channel._queue_bind("pidbox", "", "", "b")
    channel._queue_bind("pidbox", "", "", "b")

    assert [q.queue for q in channel.get_table("pidbox")] == ["b", "a-queue-with-a-long-name"]
    json.loads(file.read_text())  # nothing left over after the JSON


def _bind_many(folder: str, worker: int, start: Any, errors: Any) -> None:
    start.wait()
    try:
        with _connection(Path(folder)) as connection:
            for round_ in range(20):
                connection.default_channel._queue_bind(
                    f"fanout-{round_}", "", "", f"worker-{worker}.pidbox"
                )
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.put(repr(exc))


def test_workers_binding_at_once_all_get_bound(tmp_path) -> None:
    # Eight processes binding their queues to twenty new exchanges at once:
    # with kombu's own bind, a reader found files created and not yet written.
    context = multiprocessing.get_context("fork")
    start, errors = context.Event(), context.Queue()
    workers = [
        context.Process(target=_bind_many, args=(str(tmp_path), n, start, errors)) for n in range(8)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)

    assert errors.empty(), errors.get()
    with _connection(tmp_path) as connection:
        for round_ in range(20):
            queues = {q.queue for q in connection.default_channel.get_table(f"fanout-{round_}")}
            assert queues == {f"worker-{n}.pidbox" for n in range(8)}
