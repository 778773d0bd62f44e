"""Python's cyclic garbage collector held off during a bulk write.

A bulk call of 10,000 events builds some 40,000 model instances, and every
700 allocations the collector's youngest generation is examined, every tenth
of those passes the next, and so on: at that size it cost 15 to 20 % of the call
(docs/benchmarks.md, "Where a bulk call's time goes"). The instances hold no
reference cycles that must be freed during the call, and everything the call
built is garbage or returned once it ends, so the collector waits until then.

Re-entrant and thread-safe: the collector is turned off by the first caller
and back on by the last, and only if it was on to begin with (a program that
turned it off itself keeps it off).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
