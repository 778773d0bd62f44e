from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import NOW

BEFORE_ENCRYPTION = ("scheduling", "0006_beatheartbeat")
ENCRYPTION = ("scheduling", "0007_encrypt_payload")
MARKER = "plaintext-marker-0007"


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "table", ["scheduling_occurrence", "scheduling_scheduledevent", "scheduling_auditentry"]
)
def test_the_tables_written_per_firing_or_event_carry_no_redundant_index(table: str) -> None:
    # Every claim inserts an occurrence and rewrites its event (every index of
    # the row), every event scheduled writes an audit entry: an index nothing
    # reads is write work for nothing.
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    indexes = {
        name: c
        for name, c in constraints.items()
        if (c["index"] or c["unique"]) and not c["primary_key"]
    }
    columns = [tuple(c["columns"]) for c in indexes.values()]
    # No index that another's leading columns already cover.
    for mine in columns:
        assert not any(other != mine and other[: len(mine)] == mine for other in columns), (
            f"{mine} is covered by a longer index"
        )
    # Nor PostgreSQL's LIKE-only twin of a CharField's index (its name ends in _like).
    assert not [name for name in indexes if name.endswith("_like")]


def migrate_to(target: tuple[str, str]) -> Any:
    """Migrate the test database to ``target``; return the app registry as of then."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def raw(table: str, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        [(value,)] = cursor.fetchall()
    return value


@pytest.fixture
def migrator(transactional_db: None) -> Iterator[None]:
    yield
    # Whatever the test left, the next one finds the latest schema.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_0007_encrypts_stored_payloads_and_decrypts_them_when_reversed(migrator, settings) -> None:
    key = Fernet.generate_key().decode()
    settings.SCHEDULING_PAYLOAD_KEYS = [key]
    old = migrate_to(BEFORE_ENCRYPTION)
    old.get_model("scheduling", "ScheduledEvent").objects.create(
        id=uuid.uuid4(),
        event_type="DATA_CLEANUP",
        entity_id="system",
        scheduled_time=NOW,
        resource_timezone="UTC",
        user_timezone="UTC",
        execution_timezone="UTC",
        payload={"note": MARKER},
    )
    old.get_model("scheduling", "BusinessRule").objects.create(
        rule_key="mark_no_shows", execution_time=time(9), timezone="UTC", context={"note": MARKER}
    )

    new = migrate_to(ENCRYPTION)
    for table, column in [
        ("scheduling_scheduledevent", "payload"),
        ("scheduling_businessrule", "context"),
    ]:
        token = raw(table, column)
        assert MARKER not in token
        assert json.loads(Fernet(key).decrypt(token.encode())) == {"note": MARKER}
    assert new.get_model("scheduling", "ScheduledEvent").objects.get().payload == {"note": MARKER}
    assert new.get_model("scheduling", "BusinessRule").objects.get().context == {"note": MARKER}

    back = migrate_to(BEFORE_ENCRYPTION)
    assert json.loads(raw("scheduling_scheduledevent", "payload")) == {"note": MARKER}
    assert back.get_model("scheduling", "ScheduledEvent").objects.get().payload == {"note": MARKER}
    assert back.get_model("scheduling", "BusinessRule").objects.get().context == {"note": MARKER}


BEFORE_THE_SPLIT = [("scheduling", "0007_encrypt_payload")]


def test_the_backend_moves_to_its_app_with_every_row(migrator, django_user_model) -> None:
    # The schema as of the release before the engine/backend split (and before
    # occurrence leases): a database full of what a deployment has.
    old = migrate_to(BEFORE_THE_SPLIT[0])
    User = old.get_model("auth", "User")
    user = User.objects.create(username="alice", email="alice@example.com")
    Appointment = old.get_model("scheduling", "Appointment")
    appointment = Appointment.objects.create(
        title="Dentist",
        resource="chair-2",
        start_time=NOW,
        end_time=NOW.replace(hour=13),
        resource_timezone="Europe/Paris",
        user_timezone="America/New_York",
    )
    old.get_model("scheduling", "Participant").objects.create(
        appointment=appointment, user=user, timezone="Asia/Tokyo"
    )
    event = old.get_model("scheduling", "ScheduledEvent").objects.create(
        id=uuid.uuid4(),
        event_type="APPOINTMENT_REMINDER",
        entity_id=str(appointment.pk),
        scheduled_time=NOW,
        resource_timezone="Europe/Paris",
        user_timezone="America/New_York",
        execution_timezone="Europe/Paris",
        payload={"appointment_id": str(appointment.pk), "reminder_type": "15_minute_reminder"},
    )
    Occurrence = old.get_model("scheduling", "Occurrence")
    done = Occurrence.objects.create(
        event=event,
        scheduled_for=NOW,
        task_id="t-done",
        status="succeeded",
        attempts=1,
        claimed_at=NOW,
        error="",
        result={"notifications": 1},
    )
    in_flight = Occurrence.objects.create(
        event=event,
        scheduled_for=NOW.replace(hour=11),
        task_id="t-sent",
        status="sent",
        claimed_at=NOW,
        sent_at=NOW,
        error="attempt 1: mail server down",
    )
    old.get_model("scheduling", "Notification").objects.create(
        occurrence=done,
        user=user,
        appointment=appointment,
        kind="15_minute_reminder",
        subject="Reminder",
        body="Hello",
    )
    old.get_model("scheduling", "BusinessRule").objects.create(
        rule_key="mark_no_shows", execution_time=time(9), timezone="UTC", context={"k": "v"}
    )
    schedule = old.get_model("scheduling", "ReportSchedule").objects.create(
        name="monthly", time_of_day=time(6), timezone="UTC"
    )
    old.get_model("scheduling", "Report").objects.create(
        schedule=schedule,
        occurrence=done,
        period_start=NOW,
        period_end=NOW,
        file="reports/monthly.csv",
        row_count=3,
    )
    from django.contrib.contenttypes.models import ContentType

    # As in a database made before the split: the type is the engine's.
    ContentType.objects.filter(app_label="handlers", model="appointment").delete()
    ContentType.objects.get_or_create(app_label="scheduling", model="appointment")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(executor.loader.graph.leaf_nodes()).apps

    moved = new.get_model("handlers", "Appointment").objects.get()
    assert (moved.title, moved.resource_timezone) == ("Dentist", "Europe/Paris")
    participant = new.get_model("handlers", "Participant").objects.get()
    assert (participant.appointment_id, participant.timezone) == (moved.pk, "Asia/Tokyo")
    notification = new.get_model("handlers", "Notification").objects.get()
    assert (notification.occurrence_id, notification.appointment_id) == (done.pk, moved.pk)
    assert new.get_model("handlers", "BusinessRule").objects.get().context == {"k": "v"}
    report = new.get_model("handlers", "Report").objects.get()
    assert (report.schedule.name, report.occurrence_id, report.row_count) == ("monthly", done.pk, 3)
    # The engine's rows: errors and results now encrypted, unfinished ones leased.
    occurrences = new.get_model("scheduling", "Occurrence").objects
    assert occurrences.get(pk=done.pk).result == {"notifications": 1}
    assert occurrences.get(pk=done.pk).error is None
    sent = occurrences.get(pk=in_flight.pk)
    assert sent.error == "attempt 1: mail server down"
    assert "mail server" not in raw_where("scheduling_occurrence", "error", "task_id", "t-sent")
    assert sent.lease_expires_at is not None
    assert (
        new.get_model("contenttypes", "ContentType")
        .objects.filter(app_label="handlers", model="appointment")
        .exists()
    )


def raw_where(table: str, column: str, key: str, value: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {key} = %s", [value])
        [(found,)] = cursor.fetchall()
    return str(found)


def _index_oid(name: str) -> int | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::regclass::oid", [name])
        return int(cursor.fetchone()[0])


def _index_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, table))


def test_0014_drops_two_indexes_and_back_keeping_task_ids_unique(migrator) -> None:
    migrate_to(("scheduling", "0013_notify_due_events"))
    before = _index_names("scheduling_occurrence") | _index_names("scheduling_scheduledevent")
    assert "event_entity_idx" not in before
    old_oid = _index_oid("scheduling_occurrence_task_id_key")

    migrate_to(("scheduling", "0014_leaner_indexes"))
    after = _index_names("scheduling_occurrence") | _index_names("scheduling_scheduledevent")
    assert {"event_entity_idx", "occurrence_unique_task_id"} <= after
    assert not [name for name in after if name.endswith("_like")]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "scheduling_occurrence")
    assert constraints["occurrence_unique_task_id"]["unique"]
    if connection.vendor == "postgresql":
        # Renamed, not rebuilt: the same index (its object id) under the models' name.
        assert _index_oid("occurrence_unique_task_id") == old_oid
        assert before - after == {
            "scheduling_occurrence_event_id_846927e5",
            "scheduling_occurrence_task_id_b40b5891_like",
            "scheduling_occurrence_task_id_key",
            "scheduling_scheduledevent_entity_id_933d9b47",
            "scheduling_scheduledevent_entity_id_933d9b47_like",
        }

    migrate_to(("scheduling", "0013_notify_due_events"))
    assert (
        _index_names("scheduling_occurrence") | _index_names("scheduling_scheduledevent") == before
    )


def test_0016_drops_the_audit_logs_like_index_and_back(migrator) -> None:
    migrate_to(("scheduling", "0015_fired_beat_rows"))
    before = _index_names("scheduling_auditentry")
    old = "scheduling_auditentry_target_7ea220d6"
    assert old in before
    old_oid = _index_oid(old)

    migrate_to(("scheduling", "0016_audit_target_index"))
    after = _index_names("scheduling_auditentry")
    assert "audit_target_idx" in after
    assert not [name for name in after if name.endswith("_like")]
    assert old not in after
    if connection.vendor == "postgresql":
        # Renamed, not rebuilt.
        assert _index_oid("audit_target_idx") == old_oid
        assert before - after == {old, f"{old}_like"}
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "scheduling_auditentry")
    assert constraints["audit_target_idx"]["columns"] == ["target"]

    migrate_to(("scheduling", "0015_fired_beat_rows"))
    assert _index_names("scheduling_auditentry") == before


def test_0017_adds_the_audit_logs_actor_index_and_back(migrator) -> None:
    migrate_to(("scheduling", "0016_audit_target_index"))
    assert "audit_actor_idx" not in _index_names("scheduling_auditentry")

    migrate_to(("scheduling", "0017_audit_actor_index"))
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "scheduling_auditentry")
    assert constraints["audit_actor_idx"]["columns"] == ["actor", "at"]

    migrate_to(("scheduling", "0016_audit_target_index"))
    assert "audit_actor_idx" not in _index_names("scheduling_auditentry")
