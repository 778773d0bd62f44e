"""GET, PATCH, pause, resume and run over HTTP: the engine's controls, for one service only."""

from __future__ import annotations

import pytest

from scheduling.models import AuditEntry, EventStatus, Occurrence, ScheduledEvent, Trigger
from tests.api.conftest import event_body
from tests.api.test_openapi import _validate

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def scheduled(api) -> str:
    return api.post("/api/events/schedule", event_body()).json()["event_id"]


def state(event_id: str) -> tuple[object, ...]:
    event = ScheduledEvent.objects.get(pk=event_id)
    return (
        event.status,
        event.scheduled_time,
        event.next_run_at,
        event.payload,
        event.jitter_seconds,
    )


class TestGet:
    def test_it_shows_the_event_its_controls_and_latest_firings(self, api, scheduled) -> None:
        api.post(f"/api/events/{scheduled}/run", {})
        response = api.get(f"/api/events/{scheduled}")
        assert response.status_code == 200
        body = response.json()
        _validate(body, "EventDetail")
        assert body["next_run_at"] == "2026-12-02T14:00:00+00:00"
        assert body["controls"] == {
            "misfire_grace_seconds": None,
            "catch_up": None,
            "jitter_seconds": None,
            "overlap": None,
        }
        [run] = body["occurrences"]
        assert (run["trigger"], run["status"]) == ("manual", "sent")

    def test_another_services_event_is_404(self, billing_api, scheduled) -> None:
        for call in (
            lambda: billing_api.get(f"/api/events/{scheduled}"),
            lambda: billing_api.patch(f"/api/events/{scheduled}", {"payload": {}}),
            lambda: billing_api.post(f"/api/events/{scheduled}/pause", {}),
            lambda: billing_api.post(f"/api/events/{scheduled}/resume", {}),
            lambda: billing_api.post(f"/api/events/{scheduled}/run", {}),
        ):
            assert call().status_code == 404
        assert ScheduledEvent.objects.get(pk=scheduled).status == EventStatus.SCHEDULED
        assert not Occurrence.objects.exists()


class TestPatch:
    def test_a_new_time_moves_the_event_in_place(self, api, scheduled) -> None:
        response = api.patch(
            f"/api/events/{scheduled}",
            {"scheduled_time": "2026-12-03T10:30:00-05:00", "controls": {"jitter_seconds": 0}},
        )
        assert response.status_code == 200
        body = response.json()
        _validate(body, "EventDetail")
        assert (body["event_id"], body["next_run_at"]) == (scheduled, "2026-12-03T15:30:00+00:00")
        assert body["controls"]["jitter_seconds"] == 0
        moved, controls = AuditEntry.objects.filter(action="event.reschedule").order_by("id")
        assert (moved.actor, moved.details["via"], moved.details["fields"]) == (
            "backend",
            "api",
            ["scheduled_time"],
        )
        assert controls.details["fields"] == ["jitter_seconds"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"scheduled_time": "2026-12-03T10:30:00"}, "scheduled_time"),  # no offset
            ({"scheduled_time": None}, "scheduled_time"),
            ({"payload": [1]}, "payload"),
            ({"recurrence": {"frequency": "DAILY", "interval": 0}}, "recurrence.interval"),
            ({"controls": {"jitter_seconds": 99999}}, "controls.jitter_seconds"),
            ({"controls": {"catch_up": "all"}}, "controls.catch_up"),
            ({"controls": {"colour": "red"}}, "controls.colour"),
            ({"controls": "fast"}, "controls"),
            ({"status": "cancelled"}, "status"),
            ({}, "body"),
            # A good time with a bad control: all or nothing.
            (
                {"scheduled_time": "2026-12-05T09:00:00-05:00", "controls": {"overlap": "x"}},
                "controls.overlap",
            ),
        ],
    )
    def test_bad_input_is_400_naming_the_field_and_changes_nothing(
        self, api, scheduled, body, field
    ) -> None:
        before = state(scheduled)
        response = api.patch(f"/api/events/{scheduled}", body)
        assert response.status_code == 400
        assert field in response.json()["errors"]
        assert state(scheduled) == before
        assert not AuditEntry.objects.filter(action="event.reschedule").exists()

    def test_a_cancelled_event_is_409(self, api, scheduled) -> None:
        api.delete(f"/api/events/{scheduled}")
        response = api.patch(f"/api/events/{scheduled}", {"payload": {}})
        assert response.status_code == 409
        assert "cancelled" in response.json()["message"]


class TestPauseResumeRun:
    def test_pause_then_resume(self, api, scheduled) -> None:
        paused = api.post(f"/api/events/{scheduled}/pause", {})
        assert paused.status_code == 200
        assert (paused.json()["status"], paused.json()["next_run_at"]) == ("paused", None)
        assert api.post(f"/api/events/{scheduled}/pause", {}).status_code == 409
        assert api.post(f"/api/events/{scheduled}/run", {}).status_code == 409

        resumed = api.post(f"/api/events/{scheduled}/resume", {})
        assert resumed.status_code == 200
        assert resumed.json()["next_run_at"] == "2026-12-02T14:00:00+00:00"
        assert api.post(f"/api/events/{scheduled}/resume", {}).status_code == 409
        actions = list(AuditEntry.objects.values_list("action", "actor"))
        assert ("event.pause", "backend") in actions
        assert ("event.resume", "backend") in actions

    def test_run_is_202_with_the_new_occurrence(self, api, scheduled) -> None:
        response = api.post(f"/api/events/{scheduled}/run", {})
        assert response.status_code == 202
        _validate(response.json(), "RunStarted")
        occurrence = Occurrence.objects.get(pk=response.json()["occurrence_id"])
        assert occurrence.trigger == Trigger.MANUAL

    def test_controls_answer_only_post(self, api, scheduled) -> None:
        response = api.get(f"/api/events/{scheduled}/pause")
        assert (response.status_code, response["Allow"]) == (405, "POST")
