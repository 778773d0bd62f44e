"""Cancel, list and bulk-schedule; one service never sees or touches another's events."""

from __future__ import annotations

import pytest

from scheduling.models import AuditEntry, EventStatus, ScheduledEvent
from tests.api.conftest import event_body

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def scheduled(api) -> str:
    return api.post("/api/events/schedule", event_body()).json()["event_id"]


class TestCancel:
    def test_it_cancels_and_disables_the_beat_row(self, api, scheduled):
        response = api.delete(f"/api/events/{scheduled}")

        assert response.status_code == 200
        assert response.json() == {
            "event_id": scheduled,
            "status": "cancelled",
            "firing_in_progress": False,
        }
        event = ScheduledEvent.objects.get(id=scheduled)
        assert event.status == EventStatus.CANCELLED
        assert not event.periodic_task.enabled
        entry = AuditEntry.objects.get(action="event.cancel")
        assert (entry.target, entry.actor) == (scheduled, "backend")

    def test_cancelling_again_is_still_200(self, api, scheduled):
        api.delete(f"/api/events/{scheduled}")

        assert api.delete(f"/api/events/{scheduled}").status_code == 200

    @pytest.mark.parametrize("event_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
    def test_an_unknown_event_is_404(self, api, event_id):
        assert api.delete(f"/api/events/{event_id}").status_code == 404

    def test_an_event_that_already_ran_is_409(self, api, scheduled):
        ScheduledEvent.objects.filter(id=scheduled).update(status=EventStatus.COMPLETED)

        response = api.delete(f"/api/events/{scheduled}")

        assert response.status_code == 409
        assert ScheduledEvent.objects.get(id=scheduled).status == EventStatus.COMPLETED


class TestAnotherService:
    def test_it_cannot_cancel_the_event(self, billing_api, scheduled):
        response = billing_api.delete(f"/api/events/{scheduled}")

        assert response.status_code == 404
        assert ScheduledEvent.objects.get(id=scheduled).status == EventStatus.SCHEDULED

    def test_it_does_not_see_the_event(self, billing_api, scheduled):
        response = billing_api.get("/api/events/upcoming", {"entity_id": "appt-1"})

        assert response.status_code == 200
        assert response.json() == []

    def test_it_cannot_ask_for_the_others_events(self, billing_api, scheduled):
        response = billing_api.get("/api/events/upcoming", {"service_id": "backend"})

        assert response.status_code == 403

    def test_its_idempotency_keys_are_its_own(self, api, billing_api):
        ours = api.post("/api/events/schedule", event_body(), **{"Idempotency-Key": "k"})
        theirs = billing_api.post(
            "/api/events/schedule",
            event_body(service_id="billing", entity_id="other"),
            **{"Idempotency-Key": "k"},
        )

        assert (ours.status_code, theirs.status_code) == (201, 201)
        assert ScheduledEvent.objects.get(id=theirs.json()["event_id"]).service_id == "billing"


class TestUpcoming:
    def test_it_lists_firings_in_the_requested_zone(self, api, scheduled):
        response = api.get(
            "/api/events/upcoming",
            {"service_id": "backend", "entity_id": "appt-1", "timezone": "Asia/Tokyo"},
        )

        assert response.status_code == 200
        [event] = response.json()
        assert event["id"] == scheduled
        assert event["type"] == "APPOINTMENT_REMINDER"
        assert event["entity_id"] == "appt-1"
        # 09:00 in New York on 2 December is 23:00 in Tokyo.
        assert event["scheduled_time"] == "2026-12-02T23:00:00+09:00"
        assert event["payload"]["reminder_type"] == "24_hour_reminder"

    def test_a_window_excludes_later_events(self, api, scheduled):
        params = {
            "start_time": "2026-12-01T00:00:00+00:00",
            "end_time": "2026-12-02T13:59:59+00:00",
        }

        assert api.get("/api/events/upcoming", params).json() == []

    @pytest.mark.parametrize(
        "params",
        [
            {"start_time": "0001-01-01T00:00:00Z", "end_time": "9999-12-31T23:59:59.999999Z"},
            {"start_time": "0001-01-01T00:00:00+00:30"},
        ],
    )
    def test_extreme_windows_are_answered(self, api, scheduled, make_event, params):
        make_event(
            event_type="BUSINESS_RULE",
            entity_id="rule",
            recurrence={"frequency": "DAILY", "count": 3},
            service_id="backend",
        )
        response = api.get("/api/events/upcoming", params)

        assert response.status_code in (200, 400), response.content
        if response.status_code == 400:
            assert "start_time" in response.json()["errors"]

    def test_an_unescaped_plus_in_an_offset_is_read_as_one(self, api, scheduled):
        response = api.client.get(
            "/api/events/upcoming?end_time=2026-12-03T00:00:00+01:00", headers=api.headers
        )

        assert response.status_code == 200
        assert len(response.json()) == 1

    @pytest.mark.parametrize("name", ["end_time", "limit", "entity_id", "timezone"])
    def test_a_parameter_given_twice_is_400_naming_it(self, api, scheduled, unchanged, name):
        values = {
            "end_time": ["2026-12-03T00:00:00Z", "2026-12-09T00:00:00Z"],
            "limit": ["1", "2"],
            "entity_id": ["appt-1", "appt-2"],
            "timezone": ["UTC", "Asia/Tokyo"],
        }[name]
        response = api.get("/api/events/upcoming", {name: values})

        assert response.status_code == 400, response.content
        assert response.json()["errors"] == {name: ["given more than once; give it once"]}
        unchanged()

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"timezone": ""}, "timezone"),
            ({"start_time": ""}, "start_time"),
            ({"entity": "appt-1"}, "entity"),
            # Found by fuzzing: PostgreSQL text cannot hold NUL (a 500).
            ({"entity_id": "appt\x00"}, "entity_id"),
            ({"start_time": "2026-12-01T00:00:00"}, "start_time"),
            ({"end_time": "soon"}, "end_time"),
            (
                {"start_time": "2026-12-05T00:00:00Z", "end_time": "2026-12-04T00:00:00Z"},
                "end_time",
            ),
            ({"limit": "0"}, "limit"),
            # Found by fuzzing: PostgreSQL refuses offsets past ±15:59 (a 500).
            ({"end_time": "2026-12-03T00:00:00-20:41"}, "end_time"),
            # Issue 10: "²" passes str.isdigit() and then int() fails (a 500).
            ({"limit": "²"}, "limit"),
            ({"limit": "١٢"}, "limit"),
            ({"limit": "-1"}, "limit"),
            ({"limit": "1e3"}, "limit"),
            ({"timezone": "localtime"}, "timezone"),
            ({"timezone": "Factory"}, "timezone"),
            ({"start_time": "2026-12-01T00:00:00+23:59:59.999999"}, "start_time"),
        ],
    )
    def test_a_bad_parameter_is_400_naming_it(self, api, unchanged, params, field):
        response = api.get("/api/events/upcoming", params)

        assert response.status_code == 400, response.content
        assert field in response.json()["errors"]
        unchanged()


class TestBulk:
    def test_it_schedules_every_event_in_order(self, api):
        body = {"events": [event_body(entity_id=f"appt-{n}") for n in range(3)]}

        response = api.post("/api/events/bulk", body)

        assert response.status_code == 201
        ids = [item["event_id"] for item in response.json()["events"]]
        entities = [ScheduledEvent.objects.get(id=i).entity_id for i in ids]
        assert entities == ["appt-0", "appt-1", "appt-2"]
        assert AuditEntry.objects.filter(action="event.schedule").count() == 3

    def test_one_bad_event_is_400_naming_its_index_and_writes_nothing(self, api, unchanged):
        body = {"events": [event_body(), event_body(entity_id="b", type="NOPE")]}

        response = api.post("/api/events/bulk", body)

        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["events.1.type"]
        unchanged()

    def test_a_naive_time_in_one_event_names_its_index(self, api, unchanged):
        body = {"events": [event_body(), event_body(scheduled_time="2026-12-02T09:00:00")]}

        response = api.post("/api/events/bulk", body)

        assert response.status_code == 400
        assert "naive" in response.json()["errors"]["events.1.scheduled_time"][0]
        unchanged()

    @pytest.mark.parametrize(
        ("item", "field"),
        [
            # Issue 10: UnicodeEncodeError on writing (a 500).
            (event_body(entity_id="b", idempotency_key="\ud800"), "events.1.idempotency_key"),
            (event_body(entity_id="\ud800"), "events.1.entity_id"),
        ],
    )
    def test_bad_text_in_one_event_names_its_index_and_writes_nothing(
        self, api, unchanged, item, field
    ):
        response = api.post("/api/events/bulk", {"events": [event_body(), item]})

        assert response.status_code == 400, response.content
        assert list(response.json()["errors"]) == [field]
        assert "Unicode" in response.json()["errors"][field][0]
        unchanged()

    def test_items_carry_their_own_idempotency_keys(self, api):
        body = {"events": [event_body(idempotency_key="one")]}

        first = api.post("/api/events/bulk", body).json()["events"][0]["event_id"]
        again = api.post("/api/events/bulk", body).json()["events"][0]["event_id"]

        assert first == again

    def test_more_events_than_allowed_is_413(self, api, unchanged, settings):
        settings.SCHEDULING_API_BULK_MAX_EVENTS = 2
        body = {"events": [event_body(entity_id=f"appt-{n}") for n in range(3)]}

        assert api.post("/api/events/bulk", body).status_code == 413
        unchanged()

    @pytest.mark.parametrize(
        "body",
        [{}, {"events": []}, {"events": "all"}, {"events": [1]}, {"events": [{}], "extra": 1}],
    )
    def test_a_malformed_list_is_400(self, api, unchanged, body):
        assert api.post("/api/events/bulk", body).status_code == 400
        unchanged()

    def test_an_event_in_another_services_name_is_403(self, api, unchanged):
        body = {"events": [event_body(), event_body(service_id="billing")]}

        assert api.post("/api/events/bulk", body).status_code == 403
        unchanged()
