"""The plans PostgreSQL chose for the statements a block sent: for tests of plan shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def plans_of(chosen: Callable[[str], bool]) -> Iterator[list[str]]:
    """Collect the ``EXPLAIN`` of each statement for which ``chosen(sql)`` holds, as it runs.

    Each is explained just before it runs, in the same transaction, so it
    is planned with the settings and statistics the statement itself meets.
    """
    plans: list[str] = []

    def explain(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if chosen(sql):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        yield plans
