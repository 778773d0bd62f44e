"""Exceptions a handler raises to say how its occurrence ends.

Anything else a handler raises is taken as transient (a database, an SMTP
server, a broker away) and retried with backoff.
"""

from __future__ import annotations


class SkipOccurrence(Exception):  # noqa: N818 - it is an outcome, not an error
    """The firing must not act (e.g. a stale reminder): recorded as ``skipped``, not retried."""


class PermanentError(Exception):
    """Retrying cannot fix this (a payload the handler cannot use, an entity that is
    not there): the occurrence is recorded as ``failed`` at once, with this message.

    The message is stored (encrypted) and shown to operators: name the field,
    not its value.
    """
