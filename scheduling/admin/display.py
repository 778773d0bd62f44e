"""How the admin shows an instant: in a zone, with UTC on hover."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.utils.html import format_html


def local_time(instant: Any, tz: str) -> str:
    if instant is None:
        return "-"
    local = instant.astimezone(zoneinfo.ZoneInfo(tz))
    return format_html(
        '<span title="UTC: {}">{}</span>', instant.isoformat(), local.strftime("%Y-%m-%d %H:%M %Z")
    )
