"""Checks of the values the engine takes: field validators for models, and the
predicates behind them (public: an app's own models may use them)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from scheduling.recurrence import is_aware, is_valid_timezone

__all__ = ["is_aware", "is_valid_timezone", "validate_timezone"]


def validate_timezone(value: str) -> None:
    if not is_valid_timezone(value):
        raise ValidationError(f"unknown IANA timezone: {value!r}", code="invalid_timezone")
