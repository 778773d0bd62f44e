"""Field validators shared by the models."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from scheduling.timecheck import zone_error


def validate_timezone(value: str) -> None:
    wrong = zone_error(value)
    if wrong:
        raise ValidationError(wrong, code="invalid_timezone")
