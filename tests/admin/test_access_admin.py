"""API keys and the audit log in the admin, and the api_keys command."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from handlers.services.appointments import book_appointment
from scheduling.models import ApiKey, AuditEntry
from scheduling.services.api_keys import authenticate, create_api_key
from tests.conftest import booking_kwargs
from tests.plans import plans_of

pytestmark = pytest.mark.django_db


def test_a_key_made_in_the_admin_is_shown_once_and_works(admin_client) -> None:
    response = admin_client.post(
        reverse("admin:scheduling_apikey_add"), {"service_id": "billing", "name": "nightly"}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_key = re.search(r'<code id="api-key"[^>]*>([^<]+)</code>', response.content.decode())[1]
    key = ApiKey.objects.get()
    assert authenticate(raw_key) == key
    assert key.service_id == "billing"
    assert key.created_by == "admin"
    change_page = admin_client.get(reverse("admin:scheduling_apikey_change", args=[key.pk]))
    assert raw_key not in change_page.content.decode()
    entry = AuditEntry.objects.get(action="api_key.create")
    assert (entry.actor_type, entry.actor, entry.target) == ("user", "admin", key.prefix)


def test_the_admin_revokes_keys_and_audits_it(admin_client) -> None:
    key, raw_key = create_api_key(service_id="billing")

    admin_client.post(
        reverse("admin:scheduling_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )

    assert authenticate(raw_key) is None
    assert AuditEntry.objects.filter(action="api_key.revoke", actor="admin").count() == 1


def test_a_key_cannot_be_deleted_or_moved_to_another_service(admin_client) -> None:
    key, _ = create_api_key(service_id="billing")

    admin_client.post(
        reverse("admin:scheduling_apikey_change", args=[key.pk]),
        {"service_id": "backend", "name": "renamed"},
    )
    response = admin_client.get(reverse("admin:scheduling_apikey_delete", args=[key.pk]))

    key.refresh_from_db()
    assert (key.service_id, key.name) == ("billing", "renamed")
    assert response.status_code == 403


def test_the_audit_log_is_read_only(admin_client, frozen_now) -> None:
    create_api_key(service_id="billing")
    entry = AuditEntry.objects.get()

    listing = admin_client.get(reverse("admin:scheduling_auditentry_changelist"))
    change = admin_client.post(
        reverse("admin:scheduling_auditentry_change", args=[entry.pk]), {"actor": "someone"}
    )
    delete = admin_client.get(reverse("admin:scheduling_auditentry_delete", args=[entry.pk]))

    assert "api_key.create" in listing.content.decode()
    assert change.status_code == 403
    assert delete.status_code == 403
    assert AuditEntry.objects.get().actor != "someone"


def test_admin_actions_on_appointments_are_audited_as_the_user(admin_client, frozen_now) -> None:
    appointment = book_appointment(**booking_kwargs()).appointment
    AuditEntry.objects.all().delete()

    admin_client.post(
        reverse("admin:handlers_appointment_changelist"),
        {"action": "cancel_events", "_selected_action": [appointment.pk]},
    )

    entries = AuditEntry.objects.filter(action="event.cancel")
    assert entries.count() == 4
    assert {(e.actor_type, e.actor) for e in entries} == {("user", "admin")}


def test_code_outside_a_request_is_audited_as_the_system(frozen_now) -> None:
    book_appointment(**booking_kwargs())

    assert {e.actor_type for e in AuditEntry.objects.all()} == {"system"}


def test_the_admin_and_the_audit_log_need_a_staff_login(client) -> None:
    response = client.get(reverse("admin:scheduling_auditentry_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


class TestCommand:
    def test_create_prints_a_working_key_only_once(self) -> None:
        out = io.StringIO()
        call_command(
            "api_keys",
            "create",
            "--service",
            "billing",
            "--name",
            "ci",
            stdout=out,
            stderr=io.StringIO(),
        )

        raw_key = out.getvalue().strip()
        assert authenticate(raw_key).service_id == "billing"
        listing = io.StringIO()
        call_command("api_keys", "list", stdout=listing)
        assert raw_key.split(".")[1] not in listing.getvalue()
        assert "billing" in listing.getvalue()

    def test_revoke_by_prefix(self) -> None:
        key, raw_key = create_api_key(service_id="billing")

        call_command("api_keys", "revoke", key.prefix, stdout=io.StringIO())

        assert authenticate(raw_key) is None
        with pytest.raises(CommandError, match="already revoked"):
            call_command("api_keys", "revoke", key.prefix, stdout=io.StringIO())

    def test_a_bad_service_is_a_clear_error(self) -> None:
        with pytest.raises(CommandError, match="service_id"):
            call_command("api_keys", "create", "--service", " ", stdout=io.StringIO())
        assert not ApiKey.objects.exists()


def test_beat_heartbeats_are_listed_read_only(admin_client, frozen_now) -> None:
    from scheduling.models import BeatHeartbeat

    BeatHeartbeat.objects.create(
        instance="beat-host:7", started_at=frozen_now, last_tick_at=frozen_now, is_leader=True
    )

    listing = admin_client.get(reverse("admin:scheduling_beatheartbeat_changelist"))
    add = admin_client.get(reverse("admin:scheduling_beatheartbeat_add"))

    assert "beat-host:7" in listing.content.decode()
    assert add.status_code == 403


class TestAuditSearch:
    """The audit log's search takes a whole target or actor, through the log's indexes."""

    url = staticmethod(lambda: reverse("admin:scheduling_auditentry_changelist"))

    def found(self, admin_client, term: str) -> list[tuple[str, str]]:
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(self.url(), {"q": term})
        assert page.status_code == 200
        # A substring match (UPPER(...) LIKE '%...%') reads every entry ever written.
        assert not [q for q in queries if "UPPER(" in q["sql"] or "LIKE" in q["sql"]]
        return [(e.actor, e.target) for e in page.context["cl"].result_list]

    def test_an_event_id_a_key_prefix_or_an_actor_finds_their_entries(
        self, admin_client, frozen_now
    ) -> None:
        key, _ = create_api_key(service_id="billing")
        book_appointment(**booking_kwargs())
        AuditEntry.objects.create(
            at=frozen_now, actor_type="user", actor="alice", action="event.cancel", target="x"
        )
        booked = AuditEntry.objects.filter(action="event.schedule").first()
        assert booked is not None
        system = booked.actor  # the process that wrote it

        assert self.found(admin_client, key.prefix) == [(system, key.prefix)]
        assert self.found(admin_client, f" {booked.target} ") == [(system, booked.target)]
        assert self.found(admin_client, "alice") == [("alice", "x")]
        assert {actor for actor, _ in self.found(admin_client, system)} == {system}
        assert self.found(admin_client, key.prefix[:4]) == []  # part of a value: nothing
        assert self.found(admin_client, "Alice") == []  # as written

    @pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
    def test_a_search_is_answered_by_indexes_not_a_read_of_the_log(
        self, admin_client, frozen_now
    ) -> None:
        create_api_key(service_id="billing")
        searches = plans_of(lambda sql: "scheduling_auditentry" in sql and "WHERE" in sql)
        with connection.cursor() as cursor:
            # A log of any size: only a plan with no index left must read it all.
            cursor.execute("SET enable_seqscan = off")
        try:
            with searches as plans:
                admin_client.get(self.url(), {"q": "alice"})
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET enable_seqscan")

        assert plans
        for plan in plans:
            # Each value looked up in its own index, not the log read in full
            # (a scan of the table, or of its index by time, filtering).
            assert "audit_actor_idx" in plan, plan
            assert "audit_target_idx" in plan, plan
            assert "Seq Scan on scheduling_auditentry" not in plan
