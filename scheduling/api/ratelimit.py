"""Per-key request budgets, counted in the cache ``SCHEDULING_API_RATE_CACHE`` names.

A fixed window: each key may spend ``SCHEDULING_API_RATE_LIMIT`` units per
``SCHEDULING_API_RATE_WINDOW_SECONDS``. Every authenticated request pays one
unit at the door (a refused one too: it cost work); a bulk request then pays
one more per event beyond the first, or is refused and gets those back.
The cache is Redis in production (one count for all web processes) and
process-local memory in the embedded default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.utils import timezone


def _cache() -> BaseCache:
    # A project without that alias counts in its default cache.
    alias = settings.SCHEDULING_API_RATE_CACHE
    return caches[alias if alias in settings.CACHES else "default"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds until the window resets


def spend(key_id: int, cost: int = 1) -> Verdict:
    """Take ``cost`` units from the key's budget; refuse, taking none, if it is short."""
    limit = settings.SCHEDULING_API_RATE_LIMIT
    window = settings.SCHEDULING_API_RATE_WINDOW_SECONDS
    now = timezone.now().timestamp()
    window_index = int(now // window)
    retry_after = max(1, math.ceil((window_index + 1) * window - now))
    cache = _cache()
    counter = f"api-rate:{key_id}:{window_index}"
    # incr() is atomic in Redis and under the local-memory cache's lock, so
    # concurrent requests each count. It fails on a missing counter: the first
    # request of a window makes it (add() is a no-op if another just did).
    # incr() first spares every other request a round trip to Redis.
    try:
        spent = cache.incr(counter, cost)
    except ValueError:
        cache.add(counter, 0, timeout=window + 1)
        spent = cache.incr(counter, cost)
    if spent > limit:
        # Give the units back: a refused request writes nothing, spends nothing.
        cache.decr(counter, cost)
        return Verdict(False, max(0, limit - spent + cost), retry_after)
    return Verdict(True, limit - spent, retry_after)
