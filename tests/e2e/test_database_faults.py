"""The web process (gunicorn) on a PostgreSQL or a Redis that goes silent, refuses, comes back.

Both are reached through scripts/faultproxy.py, which the tests switch:
``blackhole`` (connections accepted, nothing answered: libpq or redis-py
would wait for ever), ``refuse`` (the server is down), ``pass``. GET /health
and the HTTP API must answer within their bounds, in JSON, 503 with
Retry-After for the API, and 200 again once the server is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from scheduling.models import BeatHeartbeat
from scheduling.services.api_keys import create_api_key
from scripts.faultproxy import FaultProxy, Mode
from tests.e2e.conftest import Processes, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Short waits, so that the test is quick: psycopg's least connect timeout...
CONNECT_TIMEOUT = 2
HEALTH_DATABASE_TIMEOUT = 1
API_DATABASE_TIMEOUT = 2
# ...and the bounds README.md states for them (a check or request on an open
# connection that fails its health check waits for the deadline, then for a
# reconnect), plus a margin for a loaded machine.
HEALTH_BOUND = CONNECT_TIMEOUT + HEALTH_DATABASE_TIMEOUT + 2.0
API_BOUND = CONNECT_TIMEOUT + API_DATABASE_TIMEOUT + 2.0
# Redis: the rate limits' socket timeout (RATE_LIMIT_REDIS_TIMEOUT, 1 s), and
# the broker check's 2 s, with the same margin.
REDIS_API_BOUND = 1.0 + 2.0
REDIS_HEALTH_BOUND = 2.0 + 2.0
# What an unanswered request waits before the test gives up on it: above
# every bound, below gunicorn's 30 s worker timeout.
CLIENT_TIMEOUT = 15


@pytest.fixture
def database_proxy() -> Iterator[FaultProxy]:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite is a local file, with no connection to fail")
    db = connection.settings_dict
    with FaultProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))) as proxy:
        yield proxy


@pytest.fixture
def redis_proxy(database_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """Before the web starts: the broker's Redis, also that of the rate limits."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("Redis only")
    redis = urlsplit(settings.CELERY_BROKER_URL)
    with FaultProxy((redis.hostname or "127.0.0.1", redis.port or 6379)) as proxy:
        yield proxy


def through(proxy: FaultProxy, url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(
        netloc=f"{parts.netloc.rpartition('@')[0]}127.0.0.1:{proxy.port}"
    ).geturl()


@pytest.fixture
def web(database_proxy: FaultProxy, request: Any, tmp_path: Any) -> Iterator[str]:
    """gunicorn with DATABASE_URL through the proxy (and Redis, if the test asks); its base URL."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    processes = Processes(tmp_path)
    if "redis_proxy" in request.fixturenames:
        redis_proxy = request.getfixturevalue("redis_proxy")
        processes.env["CELERY_BROKER_URL"] = through(redis_proxy, settings.CELERY_BROKER_URL)
        processes.env["RATE_LIMIT_REDIS_URL"] = through(
            redis_proxy, settings.CACHES["ratelimit"]["LOCATION"]
        )
    processes.env.update(
        {
            "DATABASE_URL": (
                f"postgres://{db['USER']}{password}@127.0.0.1:{database_proxy.port}/{db['NAME']}"
            ),
            "DATABASE_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            "SCHEDULING_HEALTH_DATABASE_TIMEOUT_SECONDS": str(HEALTH_DATABASE_TIMEOUT),
            "SCHEDULING_API_DATABASE_TIMEOUT_SECONDS": str(API_DATABASE_TIMEOUT),
            "SCHEDULING_API_RATE_LIMIT": "1000000",
        }
    )
    url = processes.start_web(free_port())

    def serving() -> bool:
        try:
            return httpx.get(f"{url}/api/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(processes, serving, timeout=30, what="the web process to serve")
        yield url
    finally:
        processes.stop()


@pytest.fixture
def api(web: str) -> Iterator[httpx.Client]:
    _, raw_key = create_api_key(service_id="backend")
    headers = {"X-Service-Name": "backend", "X-API-Key": raw_key}
    with httpx.Client(base_url=web, headers=headers, timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.fixture
def beat_ticking() -> None:
    now = timezone.now()
    BeatHeartbeat.objects.create(
        instance="beat:1", started_at=now, last_tick_at=now, is_leader=True
    )


def timed(send: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = send(*args, **kwargs)
    return response, time.monotonic() - started


def event_body() -> dict[str, Any]:
    return {
        "type": "DATA_CLEANUP",
        "entity_id": "nightly",
        "scheduled_time": "2030-01-01T03:00:00+01:00",
        "timezone_context": {"resource_timezone": "Europe/Paris", "user_timezone": "UTC"},
        "payload": {"days_to_keep": 30},
    }


def assert_json_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"] == "unavailable"


def test_a_silent_then_refusing_database_gets_json_503s_in_time(
    web, api, database_proxy, beat_ticking
) -> None:
    for _ in range(4):  # the workers keep their connections (CONN_MAX_AGE)
        assert api.get("/api/events/upcoming").status_code == 200
    assert httpx.get(f"{web}/health", timeout=CLIENT_TIMEOUT).status_code == 200

    database_proxy.set_mode(Mode.BLACKHOLE)

    for _ in range(2):  # an open connection first, then new ones
        health, seconds = timed(httpx.get, f"{web}/health", timeout=CLIENT_TIMEOUT)
        assert health.status_code == 503
        assert seconds < HEALTH_BOUND
        checks = health.json()["checks"]
        assert checks["database"]["ok"] is False
        assert checks["beat"]["error"] == "DatabaseUnavailable"
        assert checks["broker"]["ok"] is True
    for _ in range(2):
        response, seconds = timed(api.get, "/api/events/upcoming")
        assert_json_503(response)
        assert seconds < API_BOUND

    database_proxy.set_mode(Mode.REFUSE)

    responses = [timed(api.get, "/api/events/upcoming") for _ in range(4)]
    responses += [timed(api.post, "/api/events/schedule", json=event_body()) for _ in range(4)]
    responses += [timed(api.delete, "/api/events/00000000-0000-0000-0000-000000000000")]
    for response, seconds in responses:
        assert_json_503(response)
        assert seconds < 1.0
    health, seconds = timed(httpx.get, f"{web}/health", timeout=CLIENT_TIMEOUT)
    assert health.status_code == 503
    assert seconds < 1.0

    database_proxy.set_mode(Mode.PASS)

    assert httpx.get(f"{web}/health", timeout=CLIENT_TIMEOUT).status_code == 200
    assert api.post("/api/events/schedule", json=event_body()).status_code == 201
    assert api.get("/api/events/upcoming").status_code == 200


def test_a_silent_then_refusing_redis_gets_json_503s_in_time(
    redis_proxy, web, api, beat_ticking
) -> None:
    assert api.get("/api/events/upcoming").status_code == 200
    assert httpx.get(f"{web}/health", timeout=CLIENT_TIMEOUT).status_code == 200

    redis_proxy.set_mode(Mode.BLACKHOLE)

    response, seconds = timed(api.post, "/api/events/schedule", json=event_body())
    assert_json_503(response)
    assert seconds < REDIS_API_BOUND
    health, seconds = timed(httpx.get, f"{web}/health", timeout=CLIENT_TIMEOUT)
    assert health.status_code == 503
    assert seconds < REDIS_HEALTH_BOUND
    assert health.json()["checks"]["broker"]["ok"] is False
    assert health.json()["checks"]["database"]["ok"] is True

    redis_proxy.set_mode(Mode.REFUSE)

    for _ in range(3):
        response, seconds = timed(api.get, "/api/events/upcoming")
        assert_json_503(response)
        assert seconds < 1.0

    redis_proxy.set_mode(Mode.PASS)

    assert api.post("/api/events/schedule", json=event_body()).status_code == 201
    assert httpx.get(f"{web}/health", timeout=CLIENT_TIMEOUT).status_code == 200
