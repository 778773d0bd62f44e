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


@register(Tags.caches, deploy=True)
def rate_limits_are_shared(**_: Any) -> list[CheckMessage]:
    """Warn when each web process counts the HTTP API's rate limits on its own."""
    backend = str(settings.CACHES.get("ratelimit", {}).get("BACKEND", ""))
    if not backend.endswith(".LocMemCache"):
        return []
    return [
        Warning(
            "API rate limits are counted in each web process's memory: every process "
            "grants each key the whole budget.",
            hint="Set RATE_LIMIT_REDIS_URL (a Redis broker's URL is used when it is not set).",
            id="scheduling.W002",
        )
    ]
