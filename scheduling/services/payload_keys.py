"""Re-encrypt stored payloads under the first key of ``SCHEDULING_PAYLOAD_KEYS``.

Rotation: prepend a new key, run this (``manage.py rotate_payload_keys``),
then drop the old key. Rows are read and written as raw tokens, never
decoded to JSON, in batches by primary key, each batch in its own
transaction with its rows locked, so an edit made meanwhile is neither lost
nor overwritten by a stale token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from scheduling import encryption
from scheduling.models.fields import EncryptedJSONField


@dataclass
class Rotation:
    """What a rotation run did: rows rewritten, already current, unreadable."""

    rewritten: int = 0
    current: int = 0
    # "app_label.Model pk" of each row no configured key decrypts; left as they are.
    unreadable: list[str] = field(default_factory=list)


def encrypted_columns() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) stored with EncryptedJSONField."""
    return [
        (model, f.name)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if isinstance(f, EncryptedJSONField)
    ]


def rotate_stored_payloads(*, batch_size: int = 500) -> Rotation:
    """Re-encrypt every stored token not yet under the first key.

    Idempotent: a second run rewrites nothing. A row no key decrypts is left
    untouched and listed in ``unreadable``; the other rows are still rotated.
    """
    rotation = Rotation()
    for model, name in encrypted_columns():
        after: Any = None
        while (after := _rotate_batch(model, name, after, batch_size, rotation)) is not None:
            pass
    return rotation


def _rotate_batch(
    model: type[models.Model], name: str, after: Any, batch_size: int, rotation: Rotation
) -> Any:
    """Rotate the next batch of rows with pk above ``after``; return its last pk (None: done)."""
    with transaction.atomic():
        rows = model._default_manager.select_for_update().annotate(raw=Cast(name, TextField()))
        if after is not None:
            rows = rows.filter(pk__gt=after)
        batch = list(rows.order_by("pk").values_list("pk", "raw")[:batch_size])
        for pk, raw in batch:
            _rotate_row(model, name, pk, raw, rotation)
    return batch[-1][0] if batch else None


def _rotate_row(
    model: type[models.Model], name: str, pk: Any, raw: str | None, rotation: Rotation
) -> None:
    if raw is None:
        return
    try:
        token = encryption.rotate(raw)
    except encryption.PayloadDecryptionError:
        rotation.unreadable.append(f"{model._meta.label} {pk}")
        return
    if token is None:
        rotation.current += 1
        return
    # A raw text value: the field itself would encrypt the token again.
    model._default_manager.filter(pk=pk).update(**{name: Value(token, TextField())})
    rotation.rewritten += 1
