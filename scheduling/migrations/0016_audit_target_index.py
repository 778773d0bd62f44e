"""One index fewer to write per event scheduled: the audit log's LIKE-only index on ``target``.

On PostgreSQL ``db_index`` on a CharField adds a ``varchar_pattern_ops``
index for LIKE beside the plain one. Nothing reads it (an event's story
looks its entries up by the whole id, and the admin's search is a substring
match no index serves), and every event scheduled writes an audit entry:
at 20,000 events a bulk call, its COPY was the slowest of the four tables'.
The plain index stays, renamed to the name the model gives it.

On PostgreSQL nothing is rebuilt (a drop and a rename, catalog changes held
for moments whatever the log's size); elsewhere (SQLite) the index is made
again under its new name.
"""

from typing import Any

from django.db import migrations, models

OLD = "scheduling_auditentry_target_7ea220d6"
NEW = "audit_target_idx"


def forwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {OLD}_like")
        schema_editor.execute(f"ALTER INDEX {OLD} RENAME TO {NEW}")
    else:
        schema_editor.execute(f"DROP INDEX {OLD}")
        schema_editor.execute(f"CREATE INDEX {NEW} ON scheduling_auditentry (target)")


def backwards(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER INDEX {NEW} RENAME TO {OLD}")
        schema_editor.execute(
            f"CREATE INDEX {OLD}_like ON scheduling_auditentry (target varchar_pattern_ops)"
        )
    else:
        schema_editor.execute(f"DROP INDEX {NEW}")
        schema_editor.execute(f"CREATE INDEX {OLD} ON scheduling_auditentry (target)")


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0015_fired_beat_rows"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="target",
                    field=models.CharField(max_length=64),
                ),
                migrations.AddIndex(
                    model_name="auditentry",
                    index=models.Index(fields=["target"], name=NEW),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        )
    ]
