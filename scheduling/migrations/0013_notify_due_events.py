"""PostgreSQL: tell listening beats the earliest ``next_run_at`` each write sets.

Two statement-level triggers on ``scheduling_scheduledevent`` (after INSERT,
after UPDATE) send one ``NOTIFY scheduling_next_run`` per statement whose
payload is the earliest ``next_run_at`` (seconds since the epoch) among the
rows it wrote that are scheduled; nothing when it wrote none. Every writer is
covered, whatever it is (services, the admin, a manual SQL edit), and the
notice is delivered at commit, never for a rolled-back write. Statement level
with transition tables, not per row: a 10,000-row bulk insert sends one
notice, not 10,000. UPDATE has no column list because PostgreSQL refuses
transition tables with one; an update that moved nothing sooner costs the
beat a comparison, not a query.

No-op on SQLite, where beat polls. The channel name is
``scheduling.listener.CHANNEL``.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION scheduling_notify_next_run() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    SELECT min(next_run_at) INTO earliest FROM written
    WHERE status = 'scheduled' AND next_run_at IS NOT NULL;
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('scheduling_next_run', extract(epoch FROM earliest)::text);
    END IF;
    RETURN NULL;
END
$$;
"""

TRIGGERS = [
    """
    CREATE TRIGGER scheduling_notify_next_run_insert
    AFTER INSERT ON scheduling_scheduledevent
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_notify_next_run();
    """,
    """
    CREATE TRIGGER scheduling_notify_next_run_update
    AFTER UPDATE ON scheduling_scheduledevent
    REFERENCING NEW TABLE AS written
    FOR EACH STATEMENT EXECUTE FUNCTION scheduling_notify_next_run();
    """,
]

DROP = [
    "DROP TRIGGER IF EXISTS scheduling_notify_next_run_insert ON scheduling_scheduledevent;",
    "DROP TRIGGER IF EXISTS scheduling_notify_next_run_update ON scheduling_scheduledevent;",
    "DROP FUNCTION IF EXISTS scheduling_notify_next_run();",
]


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for statement in TRIGGERS:
        schema_editor.execute(statement)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0012_event_controls"),
    ]

    operations = [
        migrations.RunPython(create_triggers, drop_triggers),
    ]
