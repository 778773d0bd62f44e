"""Riding out a database blip: retry a short write a few times before giving up."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import DatabaseError, InterfaceError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Waits between tries: about 15 s in all, longer than a failover or a restart
# of PostgreSQL usually takes, shorter than an occurrence's lease.
DEFAULT_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0)


def with_db_retries(
    write: Callable[[], T], *, what: str, waits: tuple[float, ...] = DEFAULT_WAITS
) -> T:
    """Run ``write``; on a database error, reconnect and try again after each wait.

    Raise the last error when every try failed. ``write`` must be safe to run
    again: a conditional update, or a transaction that rolled back whole.
    Inside a transaction nothing is retried: the transaction is broken, and
    only its owner can roll it back.
    """
    for wait in waits:
        try:
            return write()
        except (DatabaseError, InterfaceError) as exc:
            if connection.in_atomic_block:
                raise
            logger.warning("%s failed (%s); trying again in %.1f s", what, exc, wait)
            # The connection may be dead: drop it, the next query opens another.
            _drop_broken_connection()
            time.sleep(wait)
    return write()


def _drop_broken_connection() -> None:
    with contextlib.suppress(DatabaseError, InterfaceError):
        connection.close()
