"""The plans PostgreSQL chose for the statements a block sent: for tests of plan shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection


@contextmanager
def plans_of(chosen: Callable[[str], bool], *, verbose: bool = False) -> Iterator[list[str]]:
    """Collect the ``EXPLAIN`` of each statement for which ``chosen(sql)`` holds, as it runs.

    Each is explained just before it runs, in the same transaction, so it
    is planned with the settings and statistics the statement itself meets.
    ``verbose``: ``EXPLAIN VERBOSE``, with what each node outputs.
    """
    plans: list[str] = []
    explain_sql = "EXPLAIN VERBOSE " if verbose else "EXPLAIN "

    def explain(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Not its own EXPLAIN, which goes through this wrapper too.
        if not sql.startswith("EXPLAIN") and chosen(sql):
            with connection.cursor() as cursor:
                cursor.execute(explain_sql + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        yield plans
