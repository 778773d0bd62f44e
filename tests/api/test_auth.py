"""Who may call: keys bound to one service, revoked keys, rate limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling.models import ApiKey, ScheduledEvent
from scheduling.services.api_keys import create_api_key, revoke_api_key
from tests.api.conftest import ApiClient, event_body

pytestmark = pytest.mark.usefixtures("frozen_now")
URL = "/api/events/schedule"


@pytest.mark.parametrize("drop", ["X-Service-Name", "X-API-Key"])
def test_a_missing_header_is_401(api, unchanged, drop):
    del api.headers[drop]

    response = api.post(URL, event_body())

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    unchanged()


@pytest.mark.parametrize(
    "wrong",
    [
        "nonsense",
        "",
        "abcdef012345.wrong-secret",
    ],
)
def test_an_unknown_key_is_401(api, unchanged, wrong):
    api.headers["X-API-Key"] = wrong or "x"

    assert api.post(URL, event_body()).status_code == 401
    unchanged()


def test_a_known_prefix_with_the_wrong_secret_is_401(api, backend_key, unchanged):
    api.headers["X-API-Key"] = f"{backend_key[0].prefix}.not-the-secret"

    assert api.post(URL, event_body()).status_code == 401
    unchanged()


def test_a_revoked_key_is_401(api, backend_key):
    revoke_api_key(backend_key[0])

    assert api.post(URL, event_body()).status_code == 401
    assert not ScheduledEvent.objects.exists()


def test_a_key_naming_another_service_is_403(api, unchanged):
    api.headers["X-Service-Name"] = "billing"

    response = api.post(URL, event_body())

    assert response.status_code == 403
    unchanged()


def test_a_body_in_another_services_name_is_403(api, unchanged):
    response = api.post(URL, event_body(service_id="billing"))

    assert response.status_code == 403
    assert "service_id" in response.json()["errors"]
    unchanged()


def test_keys_are_stored_as_a_digest_only(backend_key):
    key, raw_key = backend_key
    stored = ApiKey.objects.values().get(pk=key.pk)

    assert raw_key.startswith(f"{key.prefix}.")
    assert all(raw_key.split(".", 1)[1] not in str(value) for value in stored.values())
    assert len(key.digest) == 64


def test_use_is_recorded_at_most_once_a_minute(api, backend_key, freezer):
    api.get("/api/events/upcoming")
    first = ApiKey.objects.get(pk=backend_key[0].pk).last_used_at
    freezer.tick(timedelta(seconds=30))
    api.get("/api/events/upcoming")
    assert ApiKey.objects.get(pk=backend_key[0].pk).last_used_at == first
    freezer.tick(timedelta(seconds=31))
    api.get("/api/events/upcoming")
    assert ApiKey.objects.get(pk=backend_key[0].pk).last_used_at > first


def test_a_wrong_method_is_405_with_allow(api):
    response = api.get(URL)

    assert response.status_code == 405
    assert response["Allow"] == "POST"


class TestRateLimit:
    @pytest.fixture(autouse=True)
    def _three_per_minute(self, settings):
        settings.SCHEDULING_API_RATE_LIMIT = 3
        settings.SCHEDULING_API_RATE_WINDOW_SECONDS = 60

    def test_over_the_limit_is_429_with_retry_after_and_writes_nothing(self, api, freezer):
        for n in range(3):
            assert api.post(URL, event_body(entity_id=f"e{n}")).status_code == 201
        before = ScheduledEvent.objects.count()
        freezer.tick(timedelta(seconds=20))  # 12:00:20; the window ends at 12:01:00

        response = api.post(URL, event_body(entity_id="e4"))

        assert response.status_code == 429
        assert response["Retry-After"] == "40"
        assert ScheduledEvent.objects.count() == before

    def test_the_budget_comes_back_with_the_next_window(self, api, freezer):
        for n in range(3):
            api.post(URL, event_body(entity_id=f"e{n}"))
        assert api.post(URL, event_body(entity_id="e4")).status_code == 429
        freezer.tick(timedelta(seconds=60))

        assert api.post(URL, event_body(entity_id="e4")).status_code == 201

    def test_each_key_has_its_own_budget(self, api, billing_api):
        for n in range(3):
            api.post(URL, event_body(entity_id=f"e{n}"))

        assert billing_api.post(URL, event_body(service_id="billing")).status_code == 201

    def test_a_bulk_request_costs_one_unit_per_event(self, api, unchanged):
        body = {"events": [event_body(entity_id=f"e{n}") for n in range(4)]}

        response = api.post("/api/events/bulk", body)

        assert response.status_code == 429
        unchanged()
        # It kept the unit every request pays at the door and gave back the
        # three its events would have cost: two single requests still pass.
        for n in range(2):
            assert api.post(URL, event_body(entity_id=f"e{n}")).status_code == 201
        assert api.post(URL, event_body(entity_id="e2")).status_code == 429


def test_a_key_made_for_one_service_cannot_be_used_for_another(db):
    _key, raw = create_api_key(service_id="billing")
    client = ApiClient("backend", raw)

    assert client.get("/api/events/upcoming").status_code == 403
