"""GET /health: 200 when the database, the broker and beat are up, 503 when one is not."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError

from project.celery import app as celery_app
from scheduling.db_deadline import database_deadline
from scheduling.models import BeatHeartbeat

pytestmark = pytest.mark.django_db


def heartbeat(at: datetime, *, is_leader: bool = True, instance: str = "beat-host:7") -> None:
    BeatHeartbeat.objects.create(
        instance=instance, started_at=at - timedelta(hours=1), last_tick_at=at, is_leader=is_leader
    )


@pytest.fixture(autouse=True)
def _broker_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery prefers the CELERY_BROKER_URL environment variable (set for the
    # PostgreSQL + Redis pass) to its configuration: these tests set the latter.
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)


@pytest.fixture
def beat_ticking(frozen_now: datetime) -> None:
    heartbeat(frozen_now - timedelta(seconds=1.2))


@pytest.fixture
def broker_url(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the project's Celery app at another broker for one test."""

    def use(url: str) -> None:
        monkeypatch.setitem(celery_app.conf, "broker_url", url)

    return use


@pytest.fixture(params=["redis://127.0.0.1:{port}/0", "amqp://guest:guest@127.0.0.1:{port}//"])
def silent_broker(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis or RabbitMQ URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel completes handshakes; nobody reads
        yield request.param.format(port=listener.getsockname()[1])


def test_it_answers_200_with_every_check_when_all_are_up(client, beat_ticking) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["broker"] == {
        "ok": True,
        "latency_ms": body["checks"]["broker"]["latency_ms"],
        "transport": "memory",
    }
    assert body["checks"]["beat"] == {
        "ok": True,
        "last_tick_age_seconds": 1.2,
        "max_age_seconds": 60.0,
    }


def test_it_is_never_cached(client, beat_ticking) -> None:
    directives = {d.strip() for d in client.get("/health")["Cache-Control"].split(",")}
    assert "no-store" in directives


def test_it_needs_no_login_and_answers_head(client, beat_ticking) -> None:
    assert client.head("/health").status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_it_refuses_anything_but_get_and_head(client, beat_ticking, method) -> None:
    response = getattr(client, method)("/health")
    assert response.status_code == 405


def test_a_beat_silent_longer_than_the_max_age_is_down(client, frozen_now) -> None:
    heartbeat(frozen_now - timedelta(seconds=61))

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["beat"] == {
        "ok": False,
        "last_tick_age_seconds": 61.0,
        "max_age_seconds": 60.0,
        "error": "StaleHeartbeat",
    }


def test_the_max_beat_age_is_a_setting(client, frozen_now, settings) -> None:
    settings.SCHEDULING_HEALTH_MAX_BEAT_AGE_SECONDS = 10
    heartbeat(frozen_now - timedelta(seconds=11))
    assert client.get("/health").status_code == 503


def test_no_heartbeat_at_all_is_down(client) -> None:
    response = client.get("/health")

    assert response.status_code == 503
    beat = response.json()["checks"]["beat"]
    assert beat["ok"] is False
    assert beat["last_tick_age_seconds"] is None


def test_only_a_beat_holding_the_lock_counts(client, frozen_now) -> None:
    heartbeat(frozen_now, is_leader=False)
    assert client.get("/health").status_code == 503


def test_the_freshest_leader_counts(client, frozen_now) -> None:
    heartbeat(frozen_now - timedelta(hours=2), instance="dead:1")
    heartbeat(frozen_now - timedelta(seconds=3), instance="alive:1")
    assert client.get("/health").json()["checks"]["beat"]["last_tick_age_seconds"] == 3.0


@pytest.mark.parametrize(
    "url", ["redis://:s3cret-pw@127.0.0.1:1/0", "amqp://u:s3cret-pw@127.0.0.1:1//"]
)
def test_an_unreachable_broker_is_down_at_once(client, beat_ticking, broker_url, url) -> None:
    broker_url(url)

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "OperationalError"}
    # Public endpoint: neither the broker's password nor its address.
    assert b"s3cret" not in response.content
    assert b"127.0.0.1" not in response.content


def test_a_broker_that_never_answers_is_down_within_3_s(client, broker_url, silent_broker) -> None:
    broker_url(silent_broker)

    started = time.monotonic()
    response = client.get("/health")

    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False


def test_a_failing_database_is_down(client, beat_ticking) -> None:
    with mock.patch("scheduling.health._select_one", side_effect=OperationalError("gone")):
        response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert response.json()["checks"]["broker"]["ok"] is True


def test_an_unsafe_method_is_405_not_a_csrf_403(client) -> None:
    assert client.generic("QUERY", "/health").status_code == 405


def test_beat_is_not_checked_while_the_database_is_down(client, beat_ticking) -> None:
    # Its heartbeats are in the database: asking would only wait a second time.
    with (
        mock.patch("scheduling.health._select_one", side_effect=OperationalError("gone")),
        mock.patch("scheduling.health.check_beat") as check_beat,
    ):
        response = client.get("/health")

    check_beat.assert_not_called()
    assert response.json()["checks"]["beat"] == {
        "ok": False,
        "last_tick_age_seconds": None,
        "max_age_seconds": 60.0,
        "error": "DatabaseUnavailable",
    }


def test_the_broker_is_checked_while_the_database_is_waited_for(client, beat_ticking) -> None:
    def slow_database() -> None:
        time.sleep(0.6)
        raise OperationalError("timed out")

    def slow_broker(app: Any) -> dict[str, Any]:
        time.sleep(0.6)
        return {"ok": False, "error": "OperationalError"}

    started = time.monotonic()
    with (
        mock.patch("scheduling.health._select_one", side_effect=slow_database),
        mock.patch("scheduling.health.check_broker", side_effect=slow_broker),
    ):
        response = client.get("/health")

    assert time.monotonic() - started < 1.1  # not 1.2: at the same time
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "OperationalError"}


def test_the_database_checks_run_under_their_deadline(client, beat_ticking, settings) -> None:
    settings.SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS = 1.5
    with mock.patch("scheduling.health.database_deadline", wraps=database_deadline) as deadline:
        assert client.get("/health").status_code == 200

    assert [c.args for c in deadline.call_args_list] == [(1.5,), (1.5,)]  # SELECT 1, beat
