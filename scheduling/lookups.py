"""``AnyOf``: membership in a list of ids, as one array parameter on PostgreSQL.

``filter(pk__in=ids)`` sends a placeholder per id and prepares each id
through its field (a UUIDField parses every string into a ``UUID``): for a
burst's batches of 500 that was a twentieth of beat's time, twice a batch
(the events advanced, the occurrences marked sent). ``AnyOf(F("pk"), ids)``
sends ``pk = ANY(%s::uuid[])`` with the ids as one array (its text, for ids:
``bulk_insert.array_param``). The ids are used as given, not checked: for
ids the project read from its own rows, never for input.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db.models import Lookup

from scheduling import bulk_insert


class AnyOf(Lookup):
    """``lhs = ANY(values)`` on PostgreSQL, ``lhs IN (values)`` elsewhere."""

    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> list[Any]:
        return list(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        if not self.rhs:
            raise EmptyResultSet  # matches nothing, as an empty pk__in does
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        if connection.vendor == "postgresql":
            cast = field.cast_db_type(connection)
            return f"{lhs} = ANY(%s::{cast}[])", (*lhs_params, bulk_insert.array_param(self.rhs))
        values = [field.get_db_prep_value(value, connection) for value in self.rhs]
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", (*lhs_params, *values)
