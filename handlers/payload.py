"""Reading handler payloads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from scheduling import PermanentError


def require(payload: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The payload's values for ``keys``; raise PermanentError naming any missing."""
    keys = list(keys)
    missing = [key for key in keys if key not in payload]
    if missing:
        raise PermanentError(f"payload lacks {', '.join(missing)}")
    return {key: payload[key] for key in keys}
