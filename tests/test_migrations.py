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
