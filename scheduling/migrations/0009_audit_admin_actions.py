"""The audit log's new actions: admin changes, deletions, retries and runs."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0008_occurrence_leases'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('event.schedule', 'Schedule'), ('event.cancel', 'Cancel'), ('event.reschedule', 'Reschedule'), ('event.change', 'Change'), ('event.delete', 'Delete'), ('event.retry', 'Retry'), ('event.run', 'Run'), ('api_key.create', 'Key Create'), ('api_key.change', 'Key Change'), ('api_key.revoke', 'Key Revoke')], max_length=32),
        ),
    ]
