"""The event admin (Django's test client): edits go through the services, state and
history are read-only, every time says its zone, the page tells the event's story."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_celery_beat.models import ClockedSchedule
from django_celery_results.models import TaskResult

from scheduling import cancel_event
from scheduling.models import (
    AuditEntry,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
)
from scheduling.services.occurrences import claim_due_occurrences

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def change_url(event: ScheduledEvent) -> str:
    return reverse("admin:scheduling_scheduledevent_change", args=[event.pk])


def changelist() -> str:
    return reverse("admin:scheduling_scheduledevent_changelist")


def form(event: ScheduledEvent, **changes: Any) -> dict[str, Any]:
    local = event.scheduled_time.astimezone(NEW_YORK)
    data = {
        "scheduled_time_0": local.strftime("%Y-%m-%d"),
        "scheduled_time_1": local.strftime("%H:%M:%S"),
        "payload": json.dumps(event.payload),
        "recurrence": json.dumps(event.recurrence),
    }
    data.update(changes)
    return data


def state(event: ScheduledEvent) -> tuple[Any, ...]:
    event = ScheduledEvent.objects.get(pk=event.pk)
    clock = ClockedSchedule.objects.filter(periodictask=event.periodic_task_id).first()
    return (
        event.scheduled_time,
        event.next_run_at,
        event.payload,
        event.recurrence,
        clock.clocked_time if clock else None,
        AuditEntry.objects.count(),
    )


class TestEditingAnEvent:
    def test_a_new_time_typed_in_the_events_zone_moves_its_beat_row(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event()  # 2026-12-02 09:00 America/New_York
        response = admin_client.post(
            change_url(event), form(event, scheduled_time_1="10:15:30"), follow=True
        )
        assert "was changed successfully" in response.content.decode()
        event.refresh_from_db()
        assert event.next_run_at.isoformat() == "2026-12-02T15:15:30+00:00"
        assert event.periodic_task.clocked.clocked_time == event.next_run_at
        entry = AuditEntry.objects.get(action="event.reschedule")
        assert (entry.actor, entry.details["fields"]) == ("admin", ["scheduled_time"])

    def test_the_form_says_which_zone_it_reads(self, admin_client, make_event, frozen_now) -> None:
        page = admin_client.get(change_url(make_event())).content.decode()
        assert "Times are in <strong>America/New_York</strong> (EST, UTC-05:00 now)" in page
        assert 'value="09:00:00"' in page  # the stored 14:00 UTC, shown in the event's zone

    @pytest.mark.parametrize(
        ("changes", "says"),
        [
            # America/New_York springs forward at 2027-03-14 02:00: 02:30 is not a time there.
            (
                {"scheduled_time_0": "2027-03-14", "scheduled_time_1": "02:30:00"},
                "2027-03-14 02:30:00 does not exist in America/New_York",
            ),
            ({"payload": "[1, 2]"}, "must be a JSON object"),
            ({"payload": "{not json"}, "Enter a valid JSON"),
            (
                {"recurrence": json.dumps({"frequency": "DAILY", "interval": 0})},
                "interval: ",
            ),
        ],
    )
    def test_bad_input_is_an_error_on_the_page_and_changes_nothing(
        self, admin_client, make_event, frozen_now, changes, says
    ) -> None:
        event = make_event()
        before = state(event)
        response = admin_client.post(change_url(event), form(event, **changes))
        assert response.status_code == 200  # the form again, with its errors
        assert says in response.content.decode()
        assert state(event) == before

    def test_a_fired_one_off_cannot_be_moved(self, admin_client, make_event, frozen_now) -> None:
        event = make_event()
        claim_due_occurrences(now=event.scheduled_time, limit=10)
        response = admin_client.post(change_url(event), form(event, scheduled_time_1="11:00:00"))
        assert "already fired" in response.content.decode()

    def test_a_cancelled_event_shows_read_only(self, admin_client, make_event, frozen_now) -> None:
        event = make_event()
        cancel_event(event.id)
        page = admin_client.get(change_url(event)).content.decode()
        assert 'name="_save"' not in page
        assert "cancelled" in page


class TestActions:
    def test_cancel(self, admin_client, make_event, frozen_now) -> None:
        event = make_event()
        response = admin_client.post(
            changelist(), {"action": "cancel_selected", "_selected_action": [event.pk]}, follow=True
        )
        assert "Cancelled 1 events; 0 were not scheduled." in response.content.decode()
        event.refresh_from_db()
        assert (event.status, event.next_run_at) == (EventStatus.CANCELLED, None)

    def test_reschedule_asks_for_a_time_in_the_events_zone(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event()
        page = admin_client.post(
            changelist(), {"action": "reschedule_selected", "_selected_action": [event.pk]}
        )
        assert page.status_code == 200
        assert 'value="America/New_York"' in page.content.decode()

        done = admin_client.post(
            changelist(),
            {
                "action": "reschedule_selected",
                "_selected_action": [event.pk],
                "apply": "Reschedule",
                "when_0": "2026-12-04",
                "when_1": "08:00:00",
                "zone": "Europe/Paris",
            },
            follow=True,
        )
        assert "Rescheduled 1 events to 2026-12-04T07:00:00+00:00." in done.content.decode()
        event.refresh_from_db()
        assert event.next_run_at == datetime(2026, 12, 4, 7, 0, tzinfo=UTC)
        assert event.status == EventStatus.SCHEDULED  # the same event, moved

    @pytest.mark.parametrize(
        ("when", "zone", "says"),
        [
            # Europe/Paris falls back at 2026-10-25 03:00 CEST to 02:00 CET.
            ("2026-10-25", "Europe/Paris", "happens twice in Europe/Paris"),
            ("2026-12-04", "Mars/Olympus", "is not a time zone name"),
        ],
    )
    def test_reschedule_refuses_an_unclear_time(
        self, admin_client, make_event, frozen_now, when, zone, says
    ) -> None:
        event = make_event()
        before = state(event)
        response = admin_client.post(
            changelist(),
            {
                "action": "reschedule_selected",
                "_selected_action": [event.pk],
                "apply": "Reschedule",
                "when_0": when,
                "when_1": "02:30:00",
                "zone": zone,
            },
        )
        assert response.status_code == 200
        assert says in response.content.decode()
        assert state(event) == before

    def test_run_now_sends_an_extra_firing_and_keeps_the_schedule(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event()
        response = admin_client.post(
            changelist(),
            {"action": "run_selected_now", "_selected_action": [event.pk]},
            follow=True,
        )
        assert "Sent 1 events to run now." in response.content.decode()
        occurrence = Occurrence.objects.get(event=event)
        assert (occurrence.scheduled_for, occurrence.status) == (frozen_now, OccurrenceStatus.SENT)
        event.refresh_from_db()
        assert event.next_run_at.isoformat() == "2026-12-02T14:00:00+00:00"
        assert AuditEntry.objects.filter(action="event.run", actor="admin").exists()


class TestTheEventPage:
    def test_it_shows_its_firings_beat_row_and_audit_trail(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event(recurrence={"frequency": "DAILY"})
        Occurrence.objects.create(
            event=event,
            scheduled_for=datetime(2026, 11, 30, 14, 0, tzinfo=UTC),
            task_id="t-1",
            status=OccurrenceStatus.FAILED,
            attempts=6,
            claimed_at=frozen_now,
            finished_at=frozen_now,
            error="Traceback (most recent call last):\n  ...\nConnectionError: SMTP refused",
        )
        page = admin_client.get(change_url(event)).content.decode()
        assert "2026-11-30 09:00:00 EST (UTC-05:00)" in page
        assert "status-failed" in page
        assert "ConnectionError: SMTP refused" in page
        assert f"?event__id__exact={event.pk}" in page
        assert f"Periodic task {event.periodic_task_id}</a> (enabled), crontab" in page
        assert "event.schedule" in page  # the audit trail

    def test_the_link_to_all_firings_lists_this_events_only(
        self, admin_client, make_event, frozen_now
    ) -> None:
        mine, other = make_event(), make_event(entity_id="appt-2")
        for event in (mine, other):
            Occurrence.objects.create(
                event=event,
                scheduled_for=frozen_now,
                task_id=f"t-{event.pk}",
                claimed_at=frozen_now,
            )
        page = admin_client.get(
            reverse("admin:scheduling_occurrence_changelist") + f"?event__id__exact={mine.pk}"
        )
        assert page.status_code == 200
        assert list(page.context["cl"].queryset) == list(Occurrence.objects.filter(event=mine))


class TestHistoryIsReadOnly:
    @pytest.mark.parametrize(
        "model",
        ["scheduling_occurrence", "scheduling_auditentry", "django_celery_results_taskresult"],
    )
    def test_nothing_can_be_added(self, admin_client, model) -> None:
        assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403

    def test_an_occurrence_cannot_be_edited(self, admin_client, make_event, frozen_now) -> None:
        occurrence = Occurrence.objects.create(
            event=make_event(), scheduled_for=frozen_now, task_id="t", claimed_at=frozen_now
        )
        url = reverse("admin:scheduling_occurrence_change", args=[occurrence.pk])
        admin_client.post(url, {"status": "succeeded", "attempts": 9})
        occurrence.refresh_from_db()
        assert (occurrence.status, occurrence.attempts) == (OccurrenceStatus.CLAIMED, 0)
        assert 'name="_save"' not in admin_client.get(url).content.decode()

    def test_a_task_result_cannot_be_edited(self, admin_client) -> None:
        result = TaskResult.objects.create(task_id="t-1", status="SUCCESS")
        url = reverse("admin:django_celery_results_taskresult_change", args=[result.pk])
        admin_client.post(url, {"task_id": "t-1", "status": "FAILURE"})
        result.refresh_from_db()
        assert result.status == "SUCCESS"

    def test_audit_entries_link_to_what_they_name(self, admin_client, make_event) -> None:
        event = make_event()
        page = admin_client.get(reverse("admin:scheduling_auditentry_changelist")).content.decode()
        assert f'href="{change_url(event)}"' in page

    def test_times_say_their_zone_to_the_second(self, admin_client, make_event, frozen_now) -> None:
        make_event()
        page = admin_client.get(reverse("admin:scheduling_auditentry_changelist")).content.decode()
        assert "2026-12-01 12:00:00 UTC <small>now</small>" in page


class TestControlsInTheAdmin:
    def test_pause_and_resume_actions(self, admin_client, make_event, frozen_now) -> None:
        event = make_event()
        paused = admin_client.post(
            changelist(), {"action": "pause_selected", "_selected_action": [event.pk]}, follow=True
        )
        assert "Paused 1 events." in paused.content.decode()
        assert ScheduledEvent.objects.get(pk=event.pk).status == EventStatus.PAUSED
        resumed = admin_client.post(
            changelist(), {"action": "resume_selected", "_selected_action": [event.pk]}, follow=True
        )
        assert "Resumed 1 events." in resumed.content.decode()
        assert ScheduledEvent.objects.get(pk=event.pk).next_run_at == event.next_run_at

    def test_the_form_saves_controls_through_the_service(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event()
        response = admin_client.post(
            change_url(event), form(event, jitter_seconds="120", overlap="skip"), follow=True
        )
        assert "was changed successfully" in response.content.decode()
        event.refresh_from_db()
        assert (event.jitter_seconds, event.overlap) == (120, "skip")
        assert event.next_run_at > event.scheduled_time  # moved by its offset

    def test_a_jitter_too_wide_is_an_error_on_its_field(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event()
        response = admin_client.post(change_url(event), form(event, jitter_seconds="7200"))
        assert "must be at most 1800 seconds" in response.content.decode()
        assert ScheduledEvent.objects.get(pk=event.pk).jitter_seconds is None


def test_the_event_list_filters_read_no_distinct_over_events(
    admin_client, make_event, frozen_now
) -> None:
    make_event()
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(changelist() + "?event_type=APPOINTMENT_REMINDER")
    assert page.status_code == 200
    assert "DATA_CLEANUP" in page.content.decode()  # offered from the registry
    assert not [q for q in queries if "DISTINCT" in q["sql"] and "scheduledevent" in q["sql"]]


class TestSearchByIds:
    """The search box takes one id, matched whole, as its index answers it."""

    def events_found(self, admin_client, term: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(changelist(), {"q": term})
        assert page.status_code == 200
        assert not [q for q in queries if "UPPER(" in q["sql"]]
        return list(page.context["cl"].result_list.values_list("entity_id", flat=True))

    def test_an_entity_id_or_an_event_id_finds_its_event(
        self, admin_client, make_event, frozen_now
    ) -> None:
        first = make_event(entity_id="Appt-42")
        make_event(entity_id="appt-43")
        assert self.events_found(admin_client, " Appt-42 ") == ["Appt-42"]
        assert self.events_found(admin_client, str(first.id)) == ["Appt-42"]
        assert self.events_found(admin_client, str(first.id).upper()) == ["Appt-42"]
        assert self.events_found(admin_client, '"Appt-42"') == ["Appt-42"]  # pasted with quotes

    def test_part_of_an_id_or_another_case_finds_nothing(
        self, admin_client, make_event, frozen_now
    ) -> None:
        make_event(entity_id="Appt-42")
        assert self.events_found(admin_client, "appt-42") == []
        assert self.events_found(admin_client, "Appt") == []

    def test_occurrences_by_event_id_entity_id_or_task_id(
        self, admin_client, make_event, frozen_now
    ) -> None:
        event = make_event(entity_id="appt-7")
        Occurrence.objects.create(
            event=event,
            scheduled_for=frozen_now,
            task_id="task-7",
            status=OccurrenceStatus.SUCCEEDED,
            claimed_at=frozen_now,
        )
        url = reverse("admin:scheduling_occurrence_changelist")
        for term in (str(event.id), "appt-7", "task-7"):
            with CaptureQueriesContext(connection) as queries:
                page = admin_client.get(url, {"q": term})
            assert [o.task_id for o in page.context["cl"].result_list] == ["task-7"], term
            assert not [q for q in queries if "UPPER(" in q["sql"]]
        assert list(admin_client.get(url, {"q": "task"}).context["cl"].result_list) == []
