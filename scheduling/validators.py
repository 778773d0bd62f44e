"""Field validators shared by the models."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from scheduling.recurrence import is_valid_timezone


def validate_timezone(value: str) -> None:
    if not is_valid_timezone(value):
        raise ValidationError(f"unknown IANA timezone: {value!r}", code="invalid_timezone")
