"""Checks of the values the engine takes: field validators for models, and the
predicates behind them. Public: an app's own models and services may use them,
so that a zone or an instant refused by the engine is refused there in the same words.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError

from scheduling.timecheck import is_aware, is_valid_timezone, zone_error

__all__ = ["check_instant", "is_aware", "is_valid_timezone", "validate_timezone"]


def validate_timezone(value: str) -> None:
    wrong = zone_error(value)
    if wrong:
        raise ValidationError(wrong, code="invalid_timezone")


def check_instant(
    errors: dict[str, str],
    field: str,
    value: object,
    earliest: datetime | None = None,
    latest: datetime | None = None,
) -> datetime | None:
    """``value`` as an aware UTC datetime, or None with ``errors[field]`` saying why not."""
    from scheduling.validation import check_instant as check

    return check(errors, field, value, earliest, latest)
