"""The errors the public API raises."""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError


class EventValidationError(ValidationError):
    """Bad input to the scheduling API; nothing was written.

    ``message_dict`` maps each bad field (``scheduled_time``,
    ``resource_timezone``, ``recurrence.interval``, ...) to its messages.
    """

    def __init__(self, errors: Mapping[str, str | list[str]]) -> None:
        super().__init__({k: v if isinstance(v, list) else [v] for k, v in errors.items()})


class IdempotencyConflict(EventValidationError):  # noqa: N818 - the HTTP 409 name
    """An idempotency key was reused for a different event."""
