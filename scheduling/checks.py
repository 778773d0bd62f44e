"""System checks (``manage.py check --deploy``) for settings this app reads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def payload_keys_are_set(**_: Any) -> list[CheckMessage]:
    """Warn when payloads are encrypted with the key derived from SECRET_KEY."""
    if settings.SCHEDULING_PAYLOAD_KEYS:
        return []
    return [
        Warning(
            "SCHEDULING_PAYLOAD_KEYS is not set: payloads are encrypted with a key "
            "derived from SECRET_KEY, and changing SECRET_KEY makes them unreadable.",
            hint="Set SCHEDULING_PAYLOAD_KEYS to one or more keys from Fernet.generate_key().",
            id="scheduling.W001",
        )
    ]
