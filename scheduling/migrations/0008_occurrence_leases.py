"""Occurrence leases (scheduling.services.leases), and errors and results encrypted at rest.

Unfinished occurrences get a lease from what they already say: a claim 15 s
after it was made, a sent message the republish wait after it was sent, a
running occurrence an hour after it started (workers of the previous release
do not renew leases; an hour is the visibility timeout they relied on).
Errors and results, which may quote payload values, are encrypted like
payloads; an empty error becomes NULL.
"""

import json
from datetime import timedelta

from django.db import migrations, models
from django.db.models import F, TextField, Value
from django.db.models.functions import Cast, Coalesce, Now

import scheduling.models.fields

BATCH = 500


def set_leases(apps, schema_editor):
    Occurrence = apps.get_model("scheduling", "Occurrence")
    db = schema_editor.connection.alias
    unfinished = Occurrence.objects.using(db)
    unfinished.filter(status="claimed").update(
        lease_expires_at=F("claimed_at") + timedelta(seconds=15)
    )
    unfinished.filter(status="sent").update(
        lease_expires_at=Coalesce("sent_at", "claimed_at") + timedelta(seconds=120)
    )
    unfinished.filter(status="running").update(
        lease_expires_at=Coalesce("started_at", Now()) + timedelta(hours=1)
    )


def _rewrite(apps, schema_editor, convert):
    Occurrence = apps.get_model("scheduling", "Occurrence")
    db = schema_editor.connection.alias
    for name in ("error", "result"):
        field = Occurrence._meta.get_field(name)
        rows = (
            Occurrence.objects.using(db)
            .annotate(raw=Cast(name, TextField()))
            .filter(**{f"{name}__isnull": False})
            .order_by("pk")
            .values_list("pk", "raw")
        )
        last = None
        while batch := list((rows if last is None else rows.filter(pk__gt=last))[:BATCH]):
            for pk, raw in batch:
                new = convert(name, field, raw)
                value = None if new is None else Value(new, TextField())
                Occurrence.objects.using(db).filter(pk=pk).update(**{name: value})
            last = batch[-1][0]


def _encrypt(name, field, raw):
    if name == "error":
        return field.get_prep_value(raw) if raw else None
    return field.get_prep_value(json.loads(raw))


def _decrypt(name, field, raw):
    value = field.from_db_value(raw, None, None)
    return value if name == "error" else json.dumps(value)


def encrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _encrypt)


def decrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _decrypt)
    # The plain column it goes back to is NOT NULL.
    Occurrence = apps.get_model("scheduling", "Occurrence")
    Occurrence.objects.using(schema_editor.connection.alias).filter(error__isnull=True).update(
        error=Value("", TextField())
    )


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0007_encrypt_payload'),
    ]

    operations = [
        migrations.AddField(
            model_name='occurrence',
            name='lease_expires_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='occurrence',
            name='republish_count',
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name='occurrence',
            name='error',
            field=scheduling.models.fields.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='occurrence',
            name='result',
            field=scheduling.models.fields.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='occurrence',
            name='status',
            field=models.CharField(choices=[('claimed', 'Claimed'), ('sent', 'Sent'), ('running', 'Running'), ('retrying', 'Retrying'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('skipped', 'Skipped'), ('missed', 'Missed')], default='claimed', max_length=16),
        ),
        migrations.AddIndex(
            model_name='occurrence',
            index=models.Index(condition=models.Q(('status__in', ['claimed', 'sent', 'running', 'retrying'])), fields=['lease_expires_at'], name='occurrence_lease_idx'),
        ),
        migrations.RunPython(set_leases, migrations.RunPython.noop),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
