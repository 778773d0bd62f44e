"""Model fields of the domain."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core import exceptions
from django.db import models
from django.db.models.lookups import Lookup, Transform

from scheduling import encryption


class EncryptedJSONField(models.Field):
    """JSON encrypted at rest: the column holds a Fernet token as text.

    Python sees the decoded value (a dict for payloads) wherever the ORM
    loads the column: instances, ``values()``, ``values_list()``. Writes
    (``save()``, ``bulk_create()``, ``bulk_update()``, ``update()``,
    ``scheduling.bulk_insert``) store compact JSON encrypted under
    the first key of ``SCHEDULING_PAYLOAD_KEYS``.

    The column cannot be filtered on: the same value encrypts differently
    every time, so every lookup but ``isnull`` is refused (a FieldError)
    rather than silently matching nothing. Keep it that way: anything a
    query must select on belongs in a plain column.

    A stored token no key decrypts raises PayloadDecryptionError naming the
    model and field; ``manage.py rotate_payload_keys`` names the rows.
    """

    description = "JSON, encrypted at rest"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "Value must be valid JSON."}

    def get_internal_type(self) -> str:
        return "TextField"

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        # Compact, as SCHEDULING_MAX_PAYLOAD_BYTES measures it.
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
        return encryption.encrypt(text.encode())

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        try:
            return json.loads(encryption.decrypt(value))
        except encryption.PayloadDecryptionError as exc:
            # The same error type, now naming what could not be read.
            raise encryption.PayloadDecryptionError(f"cannot read {self._label()}: {exc}") from None

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        super().validate(value, model_instance)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise exceptions.ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def value_to_string(self, obj: models.Model) -> Any:
        # Serialisers (dumpdata) export the decoded value, as JSONField does.
        return self.value_from_object(obj)

    def formfield(self, **kwargs: Any) -> Any:
        # The admin shows and edits the decoded JSON, never the token.
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})

    def get_lookup(self, lookup_name: str) -> type[Lookup] | None:
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name: str) -> type[Transform] | None:
        return None

    def _label(self) -> str:
        model = getattr(self, "model", None)
        return f"{model._meta.label}.{self.name}" if model else str(self.name)
