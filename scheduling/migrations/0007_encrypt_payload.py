"""Encrypt event payloads (and the business-rule contexts copied into them) at rest.

The columns become text holding Fernet tokens (scheduling.encryption); the
rows already there are encrypted forward and decrypted back to JSON
backward. Values are read and written as raw text (a Cast and a Value with
a TextField) so the field's own decryption and encryption never see the
other format.
"""

import json

from django.db import migrations
from django.db.models import TextField, Value
from django.db.models.functions import Cast

import scheduling.models.fields

ENCRYPTED = [("ScheduledEvent", "payload"), ("BusinessRule", "context")]
BATCH = 500


def _rewrite(apps, schema_editor, convert):
    db = schema_editor.connection.alias
    for model_name, field_name in ENCRYPTED:
        model = apps.get_model("scheduling", model_name)
        field = model._meta.get_field(field_name)
        rows = (
            model.objects.using(db)
            .annotate(raw=Cast(field_name, TextField()))
            .order_by("pk")
            .values_list("pk", "raw")
        )
        last = None
        while batch := list((rows if last is None else rows.filter(pk__gt=last))[:BATCH]):
            for pk, raw in batch:
                if raw is not None:
                    new = Value(convert(field, raw, schema_editor.connection), TextField())
                    model.objects.using(db).filter(pk=pk).update(**{field_name: new})
            last = batch[-1][0]


def _encrypt(field, raw, connection):
    return field.get_prep_value(json.loads(raw))


def _decrypt(field, raw, connection):
    return json.dumps(field.from_db_value(raw, None, connection))


def encrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _encrypt)


def decrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _decrypt)


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0006_beatheartbeat'),
    ]

    operations = [
        migrations.AlterField(
            model_name='businessrule',
            name='context',
            field=scheduling.models.fields.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name='scheduledevent',
            name='payload',
            field=scheduling.models.fields.EncryptedJSONField(blank=True, default=dict),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
