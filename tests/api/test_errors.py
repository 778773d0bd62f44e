"""Failures the caller cannot fix: a dependency down is a JSON 503, anything else a JSON 500."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.api.conftest import ApiClient, event_body

pytestmark = pytest.mark.usefixtures("frozen_now")
URL = "/api/events/schedule"
REFUSED = 'connection to server at "10.0.0.5", port 5432 failed: Connection refused'


@pytest.fixture
def lenient(api: ApiClient) -> ApiClient:
    """The API client, answered as a real server answers: a 500 instead of a raise."""
    api.client = Client(REMOTE_ADDR="203.0.113.7", raise_request_exception=False)
    return api


def redis_cache(url: str) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        },
    }


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "error": "unavailable",
        "message": "The service is unavailable; retry in 5 s.",
    }


@pytest.mark.parametrize("error", [OperationalError(REFUSED), InterfaceError("closed")])
def test_a_database_down_is_a_503_with_retry_after(api, unchanged, error) -> None:
    with mock.patch("scheduling.api.auth.authenticate", side_effect=error):
        response = api.post(URL, event_body())

    assert_unavailable(response)
    assert b"10.0.0.5" not in response.content
    unchanged()


def test_a_database_lost_while_writing_is_a_503(api, unchanged) -> None:
    with mock.patch(
        "scheduling.api.views.schedule_or_get_event", side_effect=OperationalError(REFUSED)
    ):
        assert_unavailable(api.post(URL, event_body()))
    unchanged()


@pytest.mark.parametrize("error", [RedisConnectionError("refused"), RedisTimeoutError("slow")])
def test_rate_limits_out_of_reach_are_a_503(api, unchanged, error) -> None:
    with mock.patch("scheduling.api.ratelimit.spend", side_effect=error):
        assert_unavailable(api.get("/api/events/upcoming"))
    unchanged()


def test_a_refusing_rate_limit_redis_is_a_503(api, unchanged, settings) -> None:
    settings.CACHES = redis_cache("redis://127.0.0.1:1/0")

    assert_unavailable(api.post(URL, event_body()))
    unchanged()


def test_a_silent_rate_limit_redis_is_a_503_within_its_timeout(
    api, unchanged, settings, silent_redis
) -> None:
    settings.CACHES = redis_cache(silent_redis)

    started = time.monotonic()
    response = api.post(URL, event_body())

    assert time.monotonic() - started < 1.5
    assert_unavailable(response)
    unchanged()


def test_an_unexpected_error_is_a_json_500_naming_nothing(lenient, unchanged, caplog) -> None:
    body = event_body(payload={"appointment_id": "appt-1", "reminder_type": "secret-value"})
    error = RuntimeError("bug near 'secret-value'")
    with mock.patch("scheduling.api.views.schedule_or_get_event", side_effect=error):
        response = lenient.post(URL, body)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "internal",
        "message": "Internal error; it has been logged.",
    }
    assert b"secret-value" not in response.content
    # The operators get it all, in the log.
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.levelno == logging.ERROR
    assert "secret-value" in str(record.exc_info[1])
    unchanged()


def test_a_database_down_around_the_endpoint_is_a_json_503_too(lenient) -> None:
    # A session cookie makes the middleware read the session from the database.
    lenient.client.cookies["sessionid"] = "x" * 32
    with mock.patch(
        "django.contrib.sessions.backends.db.SessionStore._get_session_from_db",
        side_effect=OperationalError(REFUSED),
    ):
        response = lenient.get("/api/events/upcoming")

    assert_unavailable(response)


def test_pages_outside_the_api_keep_djangos_500(lenient) -> None:
    lenient.client.cookies["sessionid"] = "x" * 32
    with mock.patch(
        "django.contrib.sessions.backends.db.SessionStore._get_session_from_db",
        side_effect=OperationalError(REFUSED),
    ):
        response = lenient.client.get("/admin/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/", "/api/nothing", "/api/events/schedule/extra/"])
def test_an_unknown_path_under_the_api_is_a_json_404(client, path) -> None:
    response = client.post(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["error"] == "not_found"
    assert "/api/openapi.json" in body["message"]


def test_the_front_door_leads_to_the_admin(client) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/admin/")
