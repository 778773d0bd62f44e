"""An index on django-celery-beat's PeriodicTask.task.

The stock scheduler's reload reads every enabled periodic task; ours leaves
out the event rows with two range conditions on ``task`` (before and after
"backend.process_event"), which this index answers without reading the
event rows, however many there are.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0003_appointments_rules_reports"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS scheduling_periodictask_task_idx "
            "ON django_celery_beat_periodictask (task)",
            "DROP INDEX IF EXISTS scheduling_periodictask_task_idx",
        ),
    ]
