from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import caches
from django.test import Client

from scheduling.models import ApiKey, AuditEntry, ScheduledEvent
from scheduling.services.api_keys import create_api_key


class ApiClient:
    """The Django test client, sending one service's headers and JSON bodies."""

    def __init__(self, service: str, raw_key: str) -> None:
        self.client = Client(REMOTE_ADDR="203.0.113.7")
        self.headers = {"X-Service-Name": service, "X-API-Key": raw_key}

    def post(self, path: str, body: Any, **headers: str) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.post(
            path, data, content_type="application/json", headers={**self.headers, **headers}
        )

    def get(self, path: str, params: dict[str, str] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers={**self.headers, **headers})

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.client.patch(
            path, data, content_type="application/json", headers={**self.headers, **headers}
        )

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(path, headers={**self.headers, **headers})


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    caches["ratelimit"].clear()


@pytest.fixture
def backend_key(db: None) -> tuple[ApiKey, str]:
    return create_api_key(service_id="backend", name="tests")


@pytest.fixture
def api(backend_key: tuple[ApiKey, str]) -> ApiClient:
    return ApiClient("backend", backend_key[1])


@pytest.fixture
def billing_api(db: None) -> ApiClient:
    return ApiClient("billing", create_api_key(service_id="billing")[1])


def event_body(**overrides: Any) -> dict[str, Any]:
    """A valid schedule request, shaped as the original client sends it."""
    body: dict[str, Any] = {
        "type": "APPOINTMENT_REMINDER",
        "service_id": "backend",
        "entity_id": "appt-1",
        "scheduled_time": "2026-12-02T09:00:00-05:00",
        "timezone_context": {
            "resource_timezone": "America/New_York",
            "user_timezone": "Europe/London",
            "execution_timezone": "America/New_York",
        },
        "payload": {"appointment_id": "appt-1", "reminder_type": "24_hour_reminder"},
    }
    body.update(overrides)
    return body


@pytest.fixture
def unchanged(db: None) -> Callable[[], None]:
    """Call at the end of a test: no event and no audit entry was written since the start."""
    events, entries = ScheduledEvent.objects.count(), AuditEntry.objects.count()

    def check() -> None:
        assert ScheduledEvent.objects.count() == events
        assert AuditEntry.objects.count() == entries

    return check
