"""A real beat: GET /health sees it tick, and sees it die."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from scheduling.models import BeatHeartbeat
from tests.e2e.conftest import BEAT_ARGS, Processes, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def beat(tmp_path) -> Iterator[Processes]:
    processes = Processes(tmp_path)
    processes.env["SCHEDULING_BEAT_HEARTBEAT_SECONDS"] = "0.5"
    try:
        yield processes
    finally:
        processes.stop()


def beat_check(client: Any) -> dict[str, Any]:
    return client.get("/health").json()["checks"]["beat"]


def test_health_follows_a_real_beat(beat, client, settings) -> None:
    settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS = 3
    # No beat has ever ticked in this database.
    assert client.get("/health").status_code == 503, list(BeatHeartbeat.objects.values())

    beat.start("beat", *BEAT_ARGS)
    wait_until(beat, lambda: beat_check(client)["ok"], what="/health to see beat tick")
    assert client.get("/health").status_code == 200

    beat.kill("beat")
    wait_until(
        beat,
        lambda: client.get("/health").status_code == 503,
        timeout=15,
        what="/health to see beat dead",
    )
    assert beat_check(client)["last_tick_age_seconds"] > 3
