"""Indexes for the admin's operations dashboard (scheduling.dashboard).

``finished_at`` of failed occurrences: the latest failures. ``scheduled_for``:
the firing lag of the last day's firings. A plain CREATE INDEX holds a write
lock on the table while it builds (about 5 s per index at ten million
occurrences on PostgreSQL here), so beat cannot claim meanwhile. Where that
is too long, create both with CREATE INDEX CONCURRENTLY under the same names
first, then ``migrate scheduling 0011 --fake``.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0010_move_backend_to_handlers'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='occurrence',
            index=models.Index(condition=models.Q(('status', 'failed')), fields=['finished_at'], name='occurrence_failed_idx'),
        ),
        migrations.AddIndex(
            model_name='occurrence',
            index=models.Index(fields=['scheduled_for'], name='occurrence_scheduled_for_idx'),
        ),
    ]
