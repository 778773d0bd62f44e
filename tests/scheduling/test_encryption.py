"""Payloads at rest: encrypted in the database, decoded for the ORM, handlers and admin."""

from __future__ import annotations

import json
from datetime import time
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.urls import reverse
from django.utils import timezone

from handlers.models import BusinessRule
from handlers.services.recurring import save_business_rule
from scheduling import checks, encryption
from scheduling.exceptions import EventValidationError
from scheduling.models import Occurrence, ScheduledEvent
from scheduling.services.events import schedule_event, schedule_events
from scheduling.services.occurrences import claim_due_occurrences
from scheduling.tasks import process_event
from tests.conftest import event_kwargs, replace_handler

pytestmark = pytest.mark.django_db

MARKER = "plaintext-marker-4f1c9e"
PAYLOAD = {"appointment_id": "appt-1", "reminder_type": "24_hour_reminder", "note": MARKER}


def new_key() -> str:
    return Fernet.generate_key().decode()


def raw_column(model: type[models.Model], column: str) -> list[str]:
    """The column's stored text in every row, read past the ORM."""
    with connection.cursor() as cursor:
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(f"SELECT {connection.ops.quote_name(column)} FROM {table}")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def key_a(settings: Any) -> str:
    key = new_key()
    settings.SCHEDULING_PAYLOAD_KEYS = [key]
    return key


# --- At rest ----------------------------------------------------------------------


def test_the_database_holds_a_token_and_no_plaintext(frozen_now, key_a) -> None:
    schedule_event(**event_kwargs(payload=PAYLOAD))
    [stored] = raw_column(ScheduledEvent, "payload")
    assert MARKER not in stored
    assert "appt-1" not in stored
    assert json.loads(Fernet(key_a).decrypt(stored.encode())) == PAYLOAD


def test_bulk_created_and_updated_payloads_are_encrypted(frozen_now, key_a) -> None:
    first, second = schedule_events(
        [event_kwargs(payload=PAYLOAD), event_kwargs(entity_id="appt-2", payload=PAYLOAD)]
    )
    ScheduledEvent.objects.filter(pk=first.pk).update(payload={"note": MARKER + "-updated"})
    second.payload = {"note": MARKER + "-bulk"}
    ScheduledEvent.objects.bulk_update([second], ["payload"])

    stored = raw_column(ScheduledEvent, "payload")
    assert len(stored) == 2
    assert not any(MARKER in value for value in stored)
    assert ScheduledEvent.objects.get(pk=first.pk).payload == {"note": MARKER + "-updated"}
    assert ScheduledEvent.objects.get(pk=second.pk).payload == {"note": MARKER + "-bulk"}


def test_a_business_rule_context_is_encrypted_like_the_payload_it_feeds(frozen_now) -> None:
    rule = save_business_rule(
        BusinessRule(
            rule_key="mark_no_shows",
            execution_time=time(9),
            timezone="Europe/Paris",
            context={"grace_minutes": 45, "note": MARKER},
        )
    )
    assert not any(MARKER in value for value in raw_column(BusinessRule, "context"))
    assert not any(MARKER in value for value in raw_column(ScheduledEvent, "payload"))
    assert BusinessRule.objects.get().context == {"grace_minutes": 45, "note": MARKER}
    assert ScheduledEvent.objects.get(pk=rule.event_id).payload["context"]["note"] == MARKER


def test_the_size_limit_applies_to_the_plaintext_not_the_token(frozen_now, settings) -> None:
    exact = len(json.dumps(PAYLOAD, separators=(",", ":")).encode())
    settings.SCHEDULING_MAX_PAYLOAD_BYTES = exact
    schedule_event(**event_kwargs(payload=PAYLOAD))
    [stored] = raw_column(ScheduledEvent, "payload")
    assert len(stored) > exact

    settings.SCHEDULING_MAX_PAYLOAD_BYTES = exact - 1
    with pytest.raises(EventValidationError, match="payload"):
        schedule_event(**event_kwargs(entity_id="appt-2", payload=PAYLOAD))


# --- Read back ----------------------------------------------------------------------


def test_the_orm_returns_the_dict_in_instances_values_and_values_list(frozen_now, key_a) -> None:
    event = schedule_event(**event_kwargs(payload=PAYLOAD))
    assert ScheduledEvent.objects.get(pk=event.pk).payload == PAYLOAD
    assert ScheduledEvent.objects.values("payload").get() == {"payload": PAYLOAD}
    assert ScheduledEvent.objects.values_list("payload", flat=True).get() == PAYLOAD


def test_the_same_idempotency_key_matches_on_the_decrypted_payload(frozen_now, key_a) -> None:
    first = schedule_event(**event_kwargs(payload=PAYLOAD, idempotency_key="k-1"))
    again = schedule_event(**event_kwargs(payload=dict(PAYLOAD), idempotency_key="k-1"))
    assert again.pk == first.pk


def test_filtering_on_the_payload_is_refused_not_silently_empty(frozen_now, key_a) -> None:
    schedule_event(**event_kwargs(payload=PAYLOAD))
    with pytest.raises(FieldError):
        ScheduledEvent.objects.filter(payload__note=MARKER).exists()
    with pytest.raises(FieldError):
        ScheduledEvent.objects.filter(payload=PAYLOAD).exists()
    assert ScheduledEvent.objects.filter(payload__isnull=False).count() == 1


def test_the_handler_sees_the_decrypted_payload(frozen_now, key_a, monkeypatch) -> None:
    seen: list[dict[str, Any]] = []

    def handle(event: ScheduledEvent, occurrence: Occurrence) -> dict[str, Any]:
        seen.append(event.payload)
        return {}

    replace_handler(monkeypatch, "APPOINTMENT_REMINDER", handle)
    schedule_event(**event_kwargs(scheduled_time=timezone.now(), payload=PAYLOAD))
    [dispatch] = claim_due_occurrences(now=timezone.now(), limit=10)
    process_event.apply(
        kwargs={"event_id": dispatch.event_id, "occurrence_id": dispatch.occurrence_id}
    ).get()

    assert seen == [PAYLOAD]
    assert not any(MARKER in value for value in raw_column(ScheduledEvent, "payload"))


def test_the_admin_change_page_shows_the_decrypted_payload(admin_client, frozen_now, key_a):
    event = schedule_event(**event_kwargs(payload=PAYLOAD))
    [token] = raw_column(ScheduledEvent, "payload")
    url = reverse("admin:scheduling_scheduledevent_change", args=[event.pk])
    page = admin_client.get(url).content.decode()
    assert MARKER in page
    assert token not in page


def test_a_payload_edited_in_the_admin_is_stored_encrypted(admin_client, frozen_now, key_a):
    event = schedule_event(**event_kwargs(payload=PAYLOAD))
    url = reverse("admin:scheduling_scheduledevent_change", args=[event.pk])
    form = {
        "event_type": event.event_type,
        "service_id": event.service_id,
        "entity_id": event.entity_id,
        "scheduled_time_0": event.scheduled_time.strftime("%Y-%m-%d"),
        "scheduled_time_1": event.scheduled_time.strftime("%H:%M:%S"),
        "resource_timezone": event.resource_timezone,
        "user_timezone": event.user_timezone,
        "execution_timezone": event.execution_timezone,
        "payload": json.dumps({**PAYLOAD, "note": MARKER + "-edited"}),
        "recurrence": "null",
        "status": event.status,
        "idempotency_key": "",
        "periodic_task": event.periodic_task_id,
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    event.refresh_from_db()
    assert event.payload["note"] == MARKER + "-edited"
    assert not any(MARKER in value for value in raw_column(ScheduledEvent, "payload"))


# --- Keys and rotation -----------------------------------------------------------------


def test_rotation_rewrites_every_token_under_the_new_key(frozen_now, settings, key_a) -> None:
    for i in range(5):
        schedule_event(**event_kwargs(entity_id=f"appt-{i}", payload={**PAYLOAD, "i": i}))
    before = set(raw_column(ScheduledEvent, "payload"))
    key_b = new_key()
    settings.SCHEDULING_PAYLOAD_KEYS = [key_b, key_a]

    out = StringIO()
    call_command("rotate_payload_keys", "--batch-size", "2", stdout=out)
    assert "Rewrote 5 rows" in out.getvalue()

    settings.SCHEDULING_PAYLOAD_KEYS = [key_b]
    after = set(raw_column(ScheduledEvent, "payload"))
    assert not before & after
    payloads = ScheduledEvent.objects.order_by("entity_id").values_list("payload", flat=True)
    assert [p["i"] for p in payloads] == [0, 1, 2, 3, 4]


def test_rotation_is_idempotent(frozen_now, settings, key_a) -> None:
    schedule_event(**event_kwargs(payload=PAYLOAD))
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key(), key_a]
    call_command("rotate_payload_keys", stdout=StringIO())
    rotated = raw_column(ScheduledEvent, "payload")

    out = StringIO()
    call_command("rotate_payload_keys", stdout=out)
    assert "Rewrote 0 rows under the current key; 1 already were." in out.getvalue()
    assert raw_column(ScheduledEvent, "payload") == rotated


def test_rotation_fails_naming_how_many_rows_it_cannot_decrypt(frozen_now, settings) -> None:
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key()]
    lost = schedule_event(**event_kwargs(entity_id="lost", payload=PAYLOAD))
    [lost_token] = raw_column(ScheduledEvent, "payload")
    key_a = new_key()
    settings.SCHEDULING_PAYLOAD_KEYS = [key_a]
    schedule_event(**event_kwargs(entity_id="kept", payload=PAYLOAD))
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key(), key_a]

    with pytest.raises(CommandError, match=r"^1 rows could not be decrypted") as caught:
        call_command("rotate_payload_keys", stdout=StringIO())

    assert str(lost.pk) in str(caught.value)
    # The unreadable row is left as it was; the other one was still rotated.
    assert lost_token in raw_column(ScheduledEvent, "payload")
    assert ScheduledEvent.objects.get(entity_id="kept").payload == PAYLOAD


def test_a_token_under_an_unknown_key_raises_a_clear_error(frozen_now, settings) -> None:
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key()]
    schedule_event(**event_kwargs(payload=PAYLOAD))
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key()]
    with pytest.raises(encryption.PayloadDecryptionError) as caught:
        ScheduledEvent.objects.get()
    message = str(caught.value)
    assert "scheduling.ScheduledEvent.payload" in message
    assert "no key in SCHEDULING_PAYLOAD_KEYS decrypts" in message


def test_a_malformed_key_is_improperly_configured_naming_the_setting(settings) -> None:
    settings.SCHEDULING_PAYLOAD_KEYS = [new_key(), "not-a-fernet-key-zzz"]
    with pytest.raises(ImproperlyConfigured) as caught:
        encryption.check_keys()
    message = str(caught.value)
    assert "SCHEDULING_PAYLOAD_KEYS" in message
    assert "key 2" in message
    assert "not-a-fernet-key-zzz" not in message


def test_without_keys_one_is_derived_from_the_secret_key(settings) -> None:
    settings.SCHEDULING_PAYLOAD_KEYS = []
    token = encryption.encrypt(b"x")
    derived = Fernet(encryption.derived_key(settings.SECRET_KEY))
    assert derived.decrypt(token.encode()) == b"x"
    assert checks.payload_keys_are_set()[0].id == "scheduling.W001"

    # Why production sets keys: a new SECRET_KEY cannot read the old payloads.
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(encryption.PayloadDecryptionError):
        encryption.decrypt(token)


def test_the_deploy_check_is_quiet_when_keys_are_set(key_a) -> None:
    assert checks.payload_keys_are_set() == []
