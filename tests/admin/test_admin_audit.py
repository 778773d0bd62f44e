"""Admin writes need their permission, and every write to events and keys is audited as its user."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from handlers.services.appointments import book_appointment
from scheduling.models import (
    ApiKey,
    AuditEntry,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    ScheduledEvent,
)
from scheduling.services.api_keys import authenticate, create_api_key
from tests.conftest import booking_kwargs

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Callable[..., Client]:
    """A signed-in staff user (``clerk``) holding only the permissions named (codenames)."""

    def sign_in(*codenames: str) -> Client:
        user = User.objects.create_user("clerk", password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        client = Client()
        client.force_login(user)
        return client

    return sign_in


def changelist(name: str) -> str:
    return reverse(f"admin:{name}_changelist")


def offered_actions(client: Client, url: str) -> list[str]:
    form = client.get(url).context["action_form"]
    return [] if form is None else [name for name, _ in form.fields["action"].choices if name]


def entries(action: str) -> list[tuple[str, str, str]]:
    return list(
        AuditEntry.objects.filter(action=action).values_list("actor_type", "actor", "target")
    )


# --- API keys ---------------------------------------------------------------------------


def test_a_view_only_user_is_not_offered_the_revoke_action(staff) -> None:
    create_api_key(service_id="billing")
    viewer = staff("view_apikey")

    assert offered_actions(viewer, changelist("scheduling_apikey")) == []


def test_a_view_only_user_cannot_revoke_a_key_by_posting_the_action(staff) -> None:
    key, raw_key = create_api_key(service_id="billing")
    viewer = staff("view_apikey")

    viewer.post(changelist("scheduling_apikey"), {"action": "revoke", "_selected_action": [key.pk]})

    assert authenticate(raw_key) == key
    assert entries("api_key.revoke") == []


def test_a_user_who_may_change_keys_revokes_them_in_their_name(staff) -> None:
    key, raw_key = create_api_key(service_id="billing")
    keeper = staff("view_apikey", "change_apikey")

    assert offered_actions(keeper, changelist("scheduling_apikey")) == ["revoke"]
    keeper.post(changelist("scheduling_apikey"), {"action": "revoke", "_selected_action": [key.pk]})

    assert authenticate(raw_key) is None
    assert entries("api_key.revoke") == [("user", "clerk", key.prefix)]


def test_renaming_a_key_is_audited(admin_client) -> None:
    key, _ = create_api_key(service_id="billing", name="old")

    admin_client.post(
        reverse("admin:scheduling_apikey_change", args=[key.pk]), {"name": "nightly export"}
    )

    [entry] = AuditEntry.objects.filter(action="api_key.change")
    assert (entry.actor, entry.target) == ("admin", key.prefix)
    assert entry.details == {"via": "admin", "fields": ["name"]}
    assert ApiKey.objects.get().name == "nightly export"


# --- Events ---------------------------------------------------------------------------------


def event_form(event: ScheduledEvent, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``event`` as the browser posts it, with ``changes``.

    Its times are in the event's own zone, as the form says.
    """
    local = event.scheduled_time.astimezone(ZoneInfo(event.execution_timezone))
    form = {
        "scheduled_time_0": local.strftime("%Y-%m-%d"),
        "scheduled_time_1": local.strftime("%H:%M:%S"),
        "payload": json.dumps(event.payload),
        "recurrence": "null",
    }
    form.update(changes)
    return form


def test_an_event_changed_in_the_admin_is_audited_as_its_user(
    admin_client, make_event, frozen_now
) -> None:
    event = make_event()
    payload = {**event.payload, "note": "secret-note"}

    response = admin_client.post(
        reverse("admin:scheduling_scheduledevent_change", args=[event.pk]),
        event_form(event, payload=json.dumps(payload), entity_id="appt-2", status="cancelled"),
    )

    assert response.status_code == 302
    [entry] = AuditEntry.objects.filter(action="event.reschedule")
    assert (entry.actor_type, entry.actor, entry.target) == ("user", "admin", str(event.pk))
    assert entry.details["via"] == "admin"
    assert entry.details["fields"] == ["payload"]
    assert "secret-note" not in json.dumps(entry.details)  # names of fields, never values
    assert entry.at == frozen_now
    event.refresh_from_db()
    # State is not on the form: what was posted for it changed nothing.
    assert (event.entity_id, event.status) == ("appt-1", EventStatus.SCHEDULED)
    assert event.payload["note"] == "secret-note"


def test_events_cannot_be_added_or_deleted_in_the_admin(admin_client, make_event) -> None:
    event = make_event()

    add = admin_client.get(reverse("admin:scheduling_scheduledevent_add"))
    delete = admin_client.post(
        reverse("admin:scheduling_scheduledevent_delete", args=[event.pk]), {"post": "yes"}
    )
    bulk = admin_client.post(
        changelist("scheduling_scheduledevent"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert (add.status_code, delete.status_code) == (403, 403)
    assert bulk.status_code == 302  # "No action selected": not offered
    assert ScheduledEvent.objects.get().status == EventStatus.SCHEDULED
    assert "delete_selected" not in offered_actions(
        admin_client, changelist("scheduling_scheduledevent")
    )


def test_a_view_only_user_cannot_change_or_delete_events(staff, make_event) -> None:
    event = make_event()
    viewer = staff("view_scheduledevent")

    change = viewer.post(
        reverse("admin:scheduling_scheduledevent_change", args=[event.pk]),
        event_form(event, entity_id="appt-2"),
    )
    delete = viewer.post(
        reverse("admin:scheduling_scheduledevent_delete", args=[event.pk]), {"post": "yes"}
    )

    assert (change.status_code, delete.status_code) == (403, 403)
    assert ScheduledEvent.objects.get().entity_id == event.entity_id
    assert not AuditEntry.objects.exclude(action="event.schedule").exists()


# --- Every action: its permission -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "view"),
    [
        ("scheduling_apikey", "view_apikey"),
        ("handlers_appointment", "view_appointment"),
        ("scheduling_occurrence", "view_occurrence"),
        ("scheduling_scheduledevent", "view_scheduledevent"),
        ("django_celery_beat_periodictask", "view_periodictask"),
    ],
)
def test_a_view_only_user_is_offered_no_action(staff, model, view) -> None:
    assert offered_actions(staff(view), changelist(model)) == []


@pytest.mark.parametrize(
    ("model", "perms", "actions"),
    [
        (
            "handlers_appointment",
            ("view_appointment", "change_appointment"),
            ["reschedule_events", "cancel_events"],
        ),
        ("scheduling_occurrence", ("view_occurrence", "change_occurrence"), ["retry"]),
        (
            "scheduling_scheduledevent",
            ("view_scheduledevent", "change_scheduledevent"),
            [
                "cancel_selected",
                "reschedule_selected",
                "run_selected_now",
                "pause_selected",
                "resume_selected",
            ],
        ),
        (
            "django_celery_beat_periodictask",
            ("view_periodictask", "change_periodictask"),
            ["enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"],
        ),
    ],
)
def test_changing_is_what_the_actions_need(staff, model, perms, actions) -> None:
    assert offered_actions(staff(*perms), changelist(model)) == actions


def test_a_view_only_user_cannot_post_the_appointment_actions(staff, alice, frozen_now) -> None:
    booked = book_appointment(**booking_kwargs(participants=[alice])).appointment
    viewer = staff("view_appointment")

    for action in ("cancel_events", "reschedule_events"):
        viewer.post(
            changelist("handlers_appointment"),
            {"action": action, "_selected_action": [booked.pk]},
        )

    assert ScheduledEvent.objects.filter(status=EventStatus.SCHEDULED).count() == 4
    assert not AuditEntry.objects.exclude(action="event.schedule").exists()


@pytest.fixture
def failed_occurrence(make_event: Callable[..., ScheduledEvent], frozen_now: Any) -> Occurrence:
    event = make_event()
    ScheduledEvent.objects.filter(pk=event.pk).update(status=EventStatus.FAILED, next_run_at=None)
    return Occurrence.objects.create(
        event=event,
        scheduled_for=event.scheduled_time,
        task_id="t-failed",
        status=OccurrenceStatus.FAILED,
        claimed_at=timezone.now(),
        error="boom",
    )


def test_a_view_only_user_cannot_retry_an_occurrence(staff, failed_occurrence) -> None:
    viewer = staff("view_occurrence")

    viewer.post(
        changelist("scheduling_occurrence"),
        {"action": "retry", "_selected_action": [failed_occurrence.pk]},
    )

    failed_occurrence.refresh_from_db()
    assert failed_occurrence.status == OccurrenceStatus.FAILED


def test_a_retry_is_audited_as_its_user(admin_client, failed_occurrence) -> None:
    admin_client.post(
        changelist("scheduling_occurrence"),
        {"action": "retry", "_selected_action": [failed_occurrence.pk]},
    )

    [entry] = AuditEntry.objects.filter(action="event.retry")
    assert (entry.actor, entry.target) == ("admin", str(failed_occurrence.event_id))
    assert entry.details == {"occurrence_id": str(failed_occurrence.pk)}


# --- The periodic-task list's actions --------------------------------------------------------


def test_disabling_an_events_beat_row_from_the_list_stops_it_and_is_audited(
    admin_client, make_event, frozen_now
) -> None:
    event = make_event()

    admin_client.post(
        changelist("django_celery_beat_periodictask"),
        {"action": "disable_tasks", "_selected_action": [event.periodic_task_id]},
    )

    event.refresh_from_db()
    assert event.next_run_at is None  # beat will not fire it
    [entry] = AuditEntry.objects.filter(action="event.reschedule")
    assert (entry.actor, entry.target) == ("admin", str(event.pk))
    assert entry.details == {"via": "beat row", "next_run_at": None}

    admin_client.post(
        changelist("django_celery_beat_periodictask"),
        {"action": "enable_tasks", "_selected_action": [event.periodic_task_id]},
    )

    event.refresh_from_db()
    assert event.next_run_at == event.scheduled_time


def test_running_an_events_task_by_hand_is_audited(admin_client, make_event) -> None:
    event = make_event()

    response = admin_client.post(
        changelist("django_celery_beat_periodictask"),
        {"action": "run_tasks", "_selected_action": [event.periodic_task_id]},
        follow=True,
    )

    assert "1 task was successfully run" in response.content.decode()
    assert entries("event.run") == [("user", "admin", str(event.pk))]
