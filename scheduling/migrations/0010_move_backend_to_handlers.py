"""The appointment backend leaves the engine: its models move to the handlers app.

State only: the tables keep their names and rows (handlers.migrations.0001
takes them over). ``event_type`` stops being a closed list of choices (a
state change too: choices are not in the database).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0009_audit_admin_actions'),
    ]

    operations = [
        # The models now live in the handlers app (its migration 0001), their
        # tables unchanged: only Django's idea of who owns them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='participant',
                    name='appointment',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='appointment',
                ),
                migrations.RemoveField(
                    model_name='businessrule',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='occurrence',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='participant',
                    name='user',
                ),
                migrations.RemoveField(
                    model_name='report',
                    name='occurrence',
                ),
                migrations.RemoveField(
                    model_name='report',
                    name='schedule',
                ),
                migrations.RemoveField(
                    model_name='reportschedule',
                    name='event',
                ),
                migrations.AlterField(
                    model_name='scheduledevent',
                    name='event_type',
                    field=models.CharField(max_length=64),
                ),
                migrations.DeleteModel(
                    name='Appointment',
                ),
                migrations.DeleteModel(
                    name='BusinessRule',
                ),
                migrations.DeleteModel(
                    name='Notification',
                ),
                migrations.DeleteModel(
                    name='Participant',
                ),
                migrations.DeleteModel(
                    name='Report',
                ),
                migrations.DeleteModel(
                    name='ReportSchedule',
                ),
            ],
            database_operations=[],
        ),
    ]
