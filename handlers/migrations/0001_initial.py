"""The appointment backend's models, taken over from the engine app with their tables.

The tables were made by ``scheduling``'s migrations and keep
their names (``db_table``), so nothing in the database moves. Their content
types move with them, so permissions given on them and the admin's history
still apply.
"""

import django.db.models.deletion
import scheduling.models.fields
import scheduling.validators
from django.conf import settings
from django.db import migrations, models


MOVED = ["appointment", "participant", "notification", "businessrule", "reportschedule", "report"]


def _relabel(apps, schema_editor, source, target):
    ContentType = apps.get_model("contenttypes", "ContentType")
    types = ContentType.objects.using(schema_editor.connection.alias)
    # A content type already made for the target (a database whose apps were
    # migrated out of order) wins; the old one is left alone.
    present = set(types.filter(app_label=target).values_list("model", flat=True))
    types.filter(app_label=source, model__in=set(MOVED) - present).update(app_label=target)


def move_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "scheduling", "handlers")


def move_content_types_back(apps, schema_editor):
    _relabel(apps, schema_editor, "handlers", "scheduling")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('scheduling', '0010_move_backend_to_handlers'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables exist already (scheduling's migrations made them): take
        # them over as they are.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Appointment',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('title', models.CharField(max_length=200)),
                        ('resource', models.CharField(max_length=128)),
                        ('start_time', models.DateTimeField(db_index=True)),
                        ('end_time', models.DateTimeField()),
                        ('resource_timezone', models.CharField(max_length=64, validators=[scheduling.validators.validate_timezone])),
                        ('user_timezone', models.CharField(max_length=64, validators=[scheduling.validators.validate_timezone])),
                        ('status', models.CharField(choices=[('booked', 'Booked'), ('cancelled', 'Cancelled'), ('completed', 'Completed'), ('no_show', 'no-show')], default='booked', max_length=16)),
                        ('confirmed_at', models.DateTimeField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'scheduling_appointment',
                        'ordering': ['start_time'],
                    },
                ),
                migrations.CreateModel(
                    name='BusinessRule',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('rule_key', models.CharField(max_length=64)),
                        ('execution_time', models.TimeField(help_text="Local time of day in the rule's timezone")),
                        ('timezone', models.CharField(max_length=64, validators=[scheduling.validators.validate_timezone])),
                        ('context', scheduling.models.fields.EncryptedJSONField(blank=True, default=dict)),
                        ('enabled', models.BooleanField(default=True)),
                        ('event', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduling.scheduledevent')),
                    ],
                    options={
                        'db_table': 'scheduling_businessrule',
                    },
                ),
                migrations.CreateModel(
                    name='Participant',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('timezone', models.CharField(blank=True, max_length=64, validators=[scheduling.validators.validate_timezone])),
                        ('appointment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='handlers.appointment')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'scheduling_participant',
                    },
                ),
                migrations.AddField(
                    model_name='appointment',
                    name='participants',
                    field=models.ManyToManyField(related_name='appointments', through='handlers.Participant', to=settings.AUTH_USER_MODEL),
                ),
                migrations.CreateModel(
                    name='ReportSchedule',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100, unique=True)),
                        ('by_month_day', models.SmallIntegerField(default=1)),
                        ('time_of_day', models.TimeField()),
                        ('timezone', models.CharField(max_length=64, validators=[scheduling.validators.validate_timezone])),
                        ('enabled', models.BooleanField(default=True)),
                        ('event', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='scheduling.scheduledevent')),
                    ],
                    options={
                        'db_table': 'scheduling_reportschedule',
                    },
                ),
                migrations.CreateModel(
                    name='Report',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('period_start', models.DateTimeField()),
                        ('period_end', models.DateTimeField()),
                        ('file', models.FileField(upload_to='reports/')),
                        ('row_count', models.PositiveIntegerField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('occurrence', models.OneToOneField(null=True, on_delete=django.db.models.deletion.SET_NULL, to='scheduling.occurrence')),
                        ('schedule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reports', to='handlers.reportschedule')),
                    ],
                    options={
                        'db_table': 'scheduling_report',
                        'ordering': ['-period_start'],
                    },
                ),
                migrations.CreateModel(
                    name='Notification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(max_length=64)),
                        ('subject', models.CharField(max_length=255)),
                        ('body', models.TextField()),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('sent_at', models.DateTimeField(blank=True, null=True)),
                        ('appointment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='handlers.appointment')),
                        ('occurrence', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='scheduling.occurrence')),
                        ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'scheduling_notification',
                        'ordering': ['-created_at'],
                        'constraints': [models.UniqueConstraint(fields=('occurrence', 'user', 'kind'), name='notification_once_per_firing')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='participant',
                    constraint=models.UniqueConstraint(fields=('appointment', 'user'), name='participant_unique'),
                ),
                migrations.AddIndex(
                    model_name='appointment',
                    index=models.Index(fields=['status', 'end_time'], name='appointment_status_end_idx'),
                ),
                migrations.AddConstraint(
                    model_name='appointment',
                    constraint=models.CheckConstraint(condition=models.Q(('end_time__gt', models.F('start_time'))), name='appointment_ends_after_start'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
