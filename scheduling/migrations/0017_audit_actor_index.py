"""The audit log searched by who acted, through an index: ``(actor, at)``.

On PostgreSQL the index is built concurrently (``CREATE INDEX CONCURRENTLY``,
outside a transaction): every event scheduled writes an audit entry, and a
plain build would hold those writes back for as long as it reads the log.
Elsewhere (SQLite) it is built as usual. Written out rather than with
``django.contrib.postgres``'s operation, which imports psycopg: a project on
SQLite need not have it.
"""

from typing import Any

from django.db import migrations, models

INDEX = models.Index(fields=["actor", "at"], name="audit_actor_idx")


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX.name}"
            " ON scheduling_auditentry (actor, at)"
        )
    else:
        schema_editor.add_index(apps.get_model("scheduling", "AuditEntry"), INDEX)


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX.name}")
    else:
        schema_editor.remove_index(apps.get_model("scheduling", "AuditEntry"), INDEX)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("scheduling", "0016_audit_target_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.AddIndex(model_name="auditentry", index=INDEX)],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
