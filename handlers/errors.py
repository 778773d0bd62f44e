"""Exceptions a handler may raise to say how its occurrence ends."""

from __future__ import annotations


class SkipOccurrence(Exception):  # noqa: N818 - it is an outcome, not an error
    """Raised by a handler when the firing must not act (e.g. a stale reminder).

    The occurrence is recorded as ``skipped`` with this message; it is not
    retried.
    """
