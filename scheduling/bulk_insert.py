"""Insert many model instances fast: the write path's own ``bulk_create``.

Django's ``bulk_create`` prepares every value of every row through its SQL
compiler (placeholders, expressions, per-value checks): for a batch of 10,000
events, four rows each, that was most of the time spent. Here each column is
converted once per value by its field (``get_db_prep_save``, or nothing where
the driver takes the Python value as it is), then sent:

- PostgreSQL, 50 rows or more: ``COPY ... FROM STDIN``. Rows that need a
  generated id get it from the table's sequence first, in one query
  (``nextval`` over a series): COPY returns nothing.
- SQLite, 50 rows or more: ``executemany`` of one ``INSERT``; rows that need
  a generated id are inserted in multi-row ``INSERT ... RETURNING``
  statements instead.
- Fewer rows (one event): one multi-row ``INSERT ... VALUES``, with
  ``RETURNING`` the ids where they are needed: one round trip, as
  ``bulk_create`` takes, without its compiler.

Like ``bulk_create``: no ``save()``, no signals (see ``beat_rows`` for why
the beat rows must not send them), and the instances are marked as saved.
Unlike it, nothing here evaluates expressions: values must be plain.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import AutoField, Field, ForeignKey, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.utils import timezone

# The driver takes these Python values as they are (str, int, bool, aware
# datetime, UUID on PostgreSQL); other fields convert their values.
_AS_IS = {
    "postgresql": {
        "AutoField",
        "BigAutoField",
        "BooleanField",
        "CharField",
        "DateTimeField",
        "ForeignKey",
        "OneToOneField",
        "PositiveIntegerField",
        "TextField",
        "UUIDField",
    },
    "sqlite": {
        "AutoField",
        "BigAutoField",
        "BooleanField",
        "CharField",
        "ForeignKey",
        "OneToOneField",
        "PositiveIntegerField",
        "TextField",
    },
}
# Most rows per INSERT ... VALUES, fewer if SQLite takes fewer parameters per
# statement (999 before SQLite 3.32, 32,766 since).
_MAX_VALUES_ROWS = 1000

# From this many rows, COPY on PostgreSQL; below, one INSERT ... VALUES (one
# round trip, where ids from the sequence and a COPY are two).
FROM_ROWS = 50


M = TypeVar("M", bound=Model)


def build(model: type[M], **values: Any) -> M:
    """``model(**values)``, unsaved, built the way Django builds rows it reads, or faster.

    Django's ``Model.__init__`` with keyword arguments looks each one up
    among the fields; with every column's value in field order it only sets
    them, a third of the time (24 against 76 µs for a ``PeriodicTask``
    here). Faster still, when nothing could tell the difference (no
    ``pre_init`` or ``post_init`` receiver for the model, no column behind a
    descriptor that does more than store its value): the values go into the
    instance's ``__dict__`` at once, as those assignments would leave them,
    which took a 10,000-event bulk call's instances from 95 to 32 ms. Columns
    not given take their field's default, as they would; a default that is a
    value, not a callable, is read once per model.
    """
    columns = _columns(model)
    if not values.keys() <= columns.name_set:
        # A related instance, a property, a name that is no column: what
        # __init__ does with it (sets it, or refuses it) is its own business.
        return model(**values)
    row = {**columns.constant_defaults, **values}
    for name, default in columns.callable_defaults:
        if name not in values:
            row[name] = default()
    if columns.plain and not _has_init_receivers(model):
        obj = model.__new__(model)
        obj._state = ModelState()
        obj.__dict__.update(row)
        return obj
    return model(*[row[name] for name in columns.names])


@dataclass(frozen=True)
class _Columns:
    names: list[str]  # attnames, in field order
    name_set: frozenset[str]
    constant_defaults: dict[str, Any]
    callable_defaults: list[tuple[str, Callable[[], Any]]]
    # Whether assigning each column only stores its value in __dict__.
    plain: bool


@functools.cache
def _columns(model: type[Model]) -> _Columns:
    fields = model._meta.concrete_fields
    constant, called = {}, []
    for field in fields:
        if type(field).get_default is Field.get_default and not (
            field.has_default() and callable(field.default)
        ):
            # Django's own get_default returns this same object every time.
            constant[field.attname] = field.get_default()
        else:
            called.append((field.attname, field.get_default))
    names = [field.attname for field in fields]
    return _Columns(
        names=names,
        name_set=frozenset(names),
        constant_defaults=constant,
        callable_defaults=called,
        # A model's own __init__ may do more than set its columns.
        plain=model.__init__ is Model.__init__
        and all(_stores_plainly(model, name) for name in names),
    )


def _stores_plainly(model: type[Model], attname: str) -> bool:
    """Whether ``obj.<attname> = value`` on a new instance only sets ``obj.__dict__[attname]``.

    A field's own attribute reads lazily and stores plainly; a foreign key's
    ``_id`` attribute also forgets a cached related object, which a new
    instance has none of. Anything else (a property, a descriptor of another
    app) may do more, and the instance is then built through ``__init__``.
    """
    attribute = inspect.getattr_static(model, attname, None)
    if attribute is None or not hasattr(attribute, "__set__"):
        return True
    return type(attribute) is ForeignKeyDeferredAttribute


@functools.cache
def _foreign_key(model: type[Model], name: str) -> ForeignKey[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, ForeignKey), f"{name} is not a foreign key of {model.__name__}"
    return field


def _has_init_receivers(model: type[Model]) -> bool:
    # Most projects connect none to either signal, whatever the sender: two
    # lists read then, where has_listeners() per instance was 5 % of a bulk call.
    if not (signals.pre_init.receivers or signals.post_init.receivers):
        return False
    return signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model)


def relate(obj: Model, name: str, parent: Model | None) -> None:
    """``obj.<name> = parent`` for a new instance, without the descriptor's checks.

    The foreign key's descriptor checks the parent's type and database
    router, then caches it both ways (for a one-to-one): for 10,000 events
    and their beat rows, 60 ms of a bulk call whose instances were all just
    built here. The same caches and column are set; ``insert`` reads the
    parent's id once the parent is inserted, as it does after the descriptor.
    Unlike it, neither instance's ``_state.db`` is set: the insert sets it.
    """
    field = _foreign_key(type(obj), name)
    field.set_cached_value(obj, parent)
    # The column the key points at (the primary key unless the key says to_field).
    target = field.target_field.attname
    obj.__dict__[field.attname] = None if parent is None else getattr(parent, target)
    if parent is not None and field.one_to_one:
        field.remote_field.set_cached_value(parent, obj)


def insert(objs: Sequence[Model], *, ids: bool = True) -> None:
    """Insert ``objs`` (all of one model) in a few statements.

    Generated ids are set on the instances, unless ``ids`` is false (nothing
    refers to the rows), which saves a query on PostgreSQL.
    """
    if not objs:
        return
    _link_parents(objs)
    model = type(objs[0])
    generated = isinstance(model._meta.pk, AutoField) and objs[0].pk is None
    copy = connection.vendor == "postgresql" and len(objs) >= FROM_ROWS
    if generated and ids and copy:
        for obj, new_id in zip(objs, _next_ids(model, len(objs)), strict=True):
            obj.pk = new_id
        generated = False
    fields = [f for f in model._meta.concrete_fields if not (generated and f.primary_key)]
    if copy:
        # Rows converted as COPY sends them: the server takes in each chunk
        # while the next is converted (encrypted, say), on the other core.
        _copy(model, fields, _each_row(objs, fields))
    elif (generated and ids) or len(objs) < FROM_ROWS:
        _insert_values(objs, model, fields, _rows(objs, fields), returning=generated and ids)
    else:
        _execute_many(model, fields, _rows(objs, fields))
    _mark_saved(objs)


def insert_linked(objs: Sequence[Model]) -> None:
    """Insert one row for each of ``objs`` (PostgreSQL), all in one statement.

    An instance may refer through a foreign key to one before it in ``objs``
    that is not inserted yet: the statement gives that row's generated id
    (one ``INSERT ... RETURNING`` per row, as data-modifying CTEs, each
    reading the id of the one it refers to). Generated ids are set on the
    instances. For a handful of rows: each is a CTE of its own.
    """
    quote = connection.ops.quote_name
    ctes: list[str] = []
    params: list[Any] = []
    generated: list[tuple[int, Model]] = []
    for i, obj in enumerate(objs):
        model = type(obj)
        auto = isinstance(model._meta.pk, AutoField) and obj.pk is None
        fields = [f for f in model._meta.concrete_fields if not (auto and f.primary_key)]
        marks = []
        for field, value in zip(fields, _rows([obj], fields)[0], strict=True):
            parent = _pending_parent(obj, field, objs[:i])
            if parent is None:
                marks.append("%s")
                params.append(value)
            else:
                marks.append(f"(SELECT id FROM r{parent})")  # noqa: S608
        table, columns = _table_and_columns(model, fields)
        returning = f" RETURNING {quote(_pk_column(model))} AS id" if auto else ""
        ctes.append(
            f"r{i} AS (INSERT INTO {table} ({columns}) VALUES ({', '.join(marks)}){returning})"  # noqa: S608
        )
        if auto:
            generated.append((i, obj))
    ids = ", ".join(f"(SELECT id FROM r{i})" for i, _ in generated) or "NULL"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT {ids}", params)
        row = cursor.fetchone()
    for (_, obj), new_id in zip(generated, row, strict=False):
        obj.pk = new_id
    _link_parents(objs)
    _mark_saved(objs)


def _mark_saved(objs: Sequence[Model]) -> None:
    # The alias read once: ``connection`` is a proxy to a per-thread object,
    # and each attribute read through it was 3 % of a 10,000-event bulk call.
    alias = connection.alias
    for obj in objs:
        state = obj._state
        state.adding = False
        state.db = alias


def insert_new_rows(
    model: type[Model], field_names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> set[Any]:
    """Insert plain rows (values in ``field_names``' order) unless they conflict.

    For hot paths that have tuples, not instances (beat's claims): a row that
    would break a unique constraint is left out, as ``bulk_create``'s
    ``ignore_conflicts`` does, and the primary keys of the rows inserted are
    returned, from the same statement (``ON CONFLICT DO NOTHING RETURNING``,
    PostgreSQL and SQLite 3.35+), so no re-read tells which went in.
    """
    if not rows:
        return set()
    fields = [_concrete(model, name) for name in field_names]
    db = _this_thread()
    utc = db.timezone == UTC
    # A foreign key's value converts as the key it points to (a UUID on SQLite).
    conversions = [
        (i, conversion[0](db))
        for i, field in enumerate(fields)
        if (conversion := _converter(_stored_as(field), db.vendor, utc)) is not None
    ]
    prepared = []
    for row in rows:
        values = list(row)
        for i, convert in conversions:
            # NULL is NULL in every column: no field need see it (an
            # encrypting one would spend a call on each).
            if values[i] is not None:
                values[i] = convert(values[i])
        prepared.append(values)
    inserted: set[Any] = set()
    table, columns = _table_and_columns(model, fields)
    pk_field = model._meta.pk
    assert pk_field is not None
    tail = f" ON CONFLICT DO NOTHING RETURNING {connection.ops.quote_name(_pk_column(model))}"
    with connection.cursor() as cursor:
        for sql, params in _insert_statements(table, columns, fields, prepared):
            cursor.execute(sql + tail, params)
            inserted.update(pk_field.to_python(value) for (value,) in cursor.fetchall())
    return inserted


def _insert_statements(
    table: str, columns: str, fields: Sequence[Field[Any, Any]], rows: list[list[Any]]
) -> Iterator[tuple[str, list[Any]]]:
    """``INSERT`` statements for ``rows``, without their ``ON CONFLICT`` tail.

    PostgreSQL: one ``INSERT … SELECT FROM unnest(...)``, an array per column
    (twice as fast here as 500 rows of ``VALUES`` for the server to parse),
    and a column that holds one value in every row given once, as that value:
    psycopg writes each array element by element in Python, and a claim's
    batch has four columns that vary among twelve (``_unnest_select``);
    SQLite: multi-row ``VALUES``, as many as its parameter limit allows.
    """
    if connection.vendor == "postgresql":
        select, params = _unnest_select(fields, rows)
        yield f"INSERT INTO {table} ({columns}) {select}", params
        return
    for _start, sql, params in _values_statements(table, columns, len(fields), rows):
        yield sql, params


def _unnest_select(
    fields: Sequence[Field[Any, Any]], rows: list[list[Any]]
) -> tuple[str, list[Any]]:
    """``SELECT`` the rows from arrays, one per column, except columns of one value."""
    items, arrays, params = [], [], []
    for index, (field, column) in enumerate(zip(fields, zip(*rows, strict=True), strict=True)):
        cast = field.cast_db_type(connection)
        if _one_value(column):
            items.append(f"%s::{cast}")
            params.append(column[0])
        else:
            items.append(f"u.c{index}")
            arrays.append((index, cast, array_param(column)))
    if not arrays:
        # Every row alike (one row, say): unnest still gives the rows' number.
        arrays.append((len(fields), "int", list(range(len(rows)))))
    # The constants' placeholders come first in the statement, then the arrays'.
    params.extend(values for _, _, values in arrays)
    casts = ", ".join(f"%s::{cast}[]" for _, cast, _ in arrays)
    names = ", ".join(f"c{index}" for index, _, _ in arrays)
    return f"SELECT {', '.join(items)} FROM unnest({casts}) AS u({names})", params  # noqa: S608


def array_param(values: Sequence[Any]) -> Any:
    """``values`` as a parameter for a PostgreSQL array (``%s::uuid[]``, say).

    psycopg writes a list element by element in Python (for 500 UUIDs, a
    tenth of a claim's time in beat); ids, which need no quoting in an array's
    text, are sent as that text instead: UUIDs, and strings of hex digits and
    dashes (task ids). Anything else as the list.
    """
    if values and all(type(value) is uuid.UUID for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    if values and all(type(value) is str for value in values):
        text = ",".join(values)
        # Only the commas that join them (none inside a value), no value
        # empty; NULL cannot be spelt in hex digits and dashes.
        bare = text.count(",") == len(values) - 1 and all(values)
        if bare and _BARE_ELEMENTS.fullmatch(text):
            return "{" + text + "}"
    return list(values)


_BARE_ELEMENTS = re.compile(r"[0-9a-fA-F,-]*")


def _one_value(column: tuple[Any, ...]) -> bool:
    """Whether every row holds the same value, and the same type of it (1 and True differ)."""
    first = column[0]
    kind = type(first)
    try:
        return len(set(column)) == 1 and all(type(value) is kind for value in column)
    except TypeError:  # unhashable: left as an array
        return False


def _values_statements(
    table: str, columns: str, width: int, rows: list[list[Any]]
) -> Iterator[tuple[int, str, list[Any]]]:
    """Multi-row ``INSERT … VALUES`` statements, as many rows each as the parameter
    limit allows; with the index of each statement's first row."""
    row_marks = "(" + ", ".join(["%s"] * width) + ")"
    per_statement = max(1, min(_MAX_VALUES_ROWS, _max_parameters() // width))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        yield (
            start,
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([row_marks] * len(chunk))}",  # noqa: S608
            [value for row in chunk for value in row],
        )


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), f"{name} is not a column of {model.__name__}"
    return field


def _stored_as(field: Field[Any, Any]) -> Field[Any, Any]:
    target = getattr(field, "target_field", None)
    return field if target is None else target


def _pending_parent(obj: Model, field: Field[Any, Any], earlier: Sequence[Model]) -> int | None:
    """The index in ``earlier`` of the uninserted row ``obj`` refers to through ``field``."""
    if not field.is_relation or getattr(obj, field.attname) is not None:
        return None
    if not field.is_cached(obj):  # type: ignore[attr-defined]
        return None
    parent = field.get_cached_value(obj)  # type: ignore[attr-defined]
    for index, candidate in enumerate(earlier):
        if candidate is parent and candidate.pk is None:
            return index
    return None


def _link_parents(objs: Sequence[Model]) -> None:
    """Set each foreign key column from its related instance, inserted since it was assigned.

    ``task.clocked = clock`` before the clock is inserted leaves
    ``task.clocked_id`` None; ``bulk_create`` fills it in the same way.
    """
    for obj in objs:
        for field in _relations(type(obj)):
            if getattr(obj, field.attname) is None and field.is_cached(obj):  # type: ignore[attr-defined]
                parent = field.get_cached_value(obj)  # type: ignore[attr-defined]
                if parent is not None:
                    if parent.pk is None:
                        raise ValueError(f"{obj!r}: its {field.name} is not saved")
                    setattr(obj, field.attname, parent.pk)


@functools.cache
def _relations(model: type[Model]) -> list[Field[Any, Any]]:
    return [field for field in model._meta.concrete_fields if field.is_relation]


def _rows(objs: Sequence[Model], fields: Sequence[Field[Any, Any]]) -> list[list[Any]]:
    return list(_each_row(objs, fields))


def _each_row(objs: Sequence[Model], fields: Sequence[Field[Any, Any]]) -> Iterator[list[Any]]:
    """Each instance's row as the driver takes it, converted as it is asked for."""
    # auto_now and auto_now_add, as their pre_save would set them, with one
    # reading of the clock for the batch.
    now = timezone.now()
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                setattr(obj, field.attname, now)
    db = _this_thread()
    values, conversions = _plan(tuple(fields), db.vendor, db.timezone == UTC)
    # A memory of the last value per column, for this batch only: a value
    # mutated between two calls is converted again.
    converted = [
        (i, _repeating(bind(db)) if repeats else bind(db)) for i, bind, repeats in conversions
    ]
    for obj in objs:
        row = list(values(obj)) if len(fields) > 1 else [values(obj)]
        for i, convert in converted:
            row[i] = convert(row[i])
        yield row


# A column's conversion, given the connection it converts for.
Converter = Callable[[BaseDatabaseWrapper], Callable[[Any], Any]]
Conversion = tuple[int, Converter, bool]


@functools.cache
def _plan(
    fields: tuple[Field[Any, Any], ...], vendor: str, utc: bool
) -> tuple[Callable[[Model], Any], list[Conversion]]:
    """How to read a row's values, and which columns convert how (whether repeats may be reused).

    Worked out once per model and database: a single event would otherwise
    spend as long here as on its INSERT.
    """
    values = operator.attrgetter(*(field.attname for field in fields))
    conversions = []
    for i, field in enumerate(fields):
        conversion = _converter(field, vendor, utc)
        if conversion is not None:
            conversions.append((i, *conversion))
    return values, conversions


def _converter(field: Field[Any, Any], vendor: str, utc: bool) -> tuple[Converter, bool] | None:
    """How a value of ``field`` becomes what the driver takes, and whether the same
    object always converts the same; None if the driver takes it as it is."""
    # Django's own fields only: a field of another app (an encrypted one)
    # converts its values even when its column is text, and anew every time.
    stock = type(field).__module__.startswith("django.db.models.")
    if stock and field.get_internal_type() in _AS_IS[vendor]:
        return None
    if stock and vendor == "sqlite" and utc:
        fast = _SQLITE_FAST.get(field.get_internal_type())
        if fast is not None:
            return (lambda _db: fast), True

    def bind(db: BaseDatabaseWrapper) -> Callable[[Any], Any]:
        # The thread's connection itself, not the ``connection`` proxy: a
        # field reads ``connection.ops`` for every value (a JSONField does),
        # and each read through the proxy looks the connection up again.
        return functools.partial(field.get_db_prep_save, connection=db)

    return bind, stock


def _this_thread() -> BaseDatabaseWrapper:
    """This thread's default connection (what the ``connection`` proxy reaches)."""
    return connections[DEFAULT_DB_ALIAS]


def _repeating(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert``, answering at once for the same object as the last.

    A column often holds one object row after row (None, the batch's
    instant). Only for Django's own fields: an encrypting field must encrypt
    every value afresh, or two rows would share a token.
    """
    last: list[Any] = [_NOTHING, None]

    def repeating(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return repeating


_NOTHING = object()


def _sqlite_datetime(value: datetime | None) -> str | None:
    # What Django's SQLite backend stores for an aware datetime when the
    # connection's zone is UTC (make_naive, then str()), without its layers.
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"a naive datetime reached the database: {value!r}")
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _sqlite_uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex  # Django's char(32) form


_SQLITE_FAST: dict[str, Callable[[Any], Any]] = {
    "DateTimeField": _sqlite_datetime,
    "UUIDField": _sqlite_uuid,
}


def _table_and_columns(model: type[Model], fields: Sequence[Field[Any, Any]]) -> tuple[str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), ", ".join(quote(str(f.column)) for f in fields)


def _pk_column(model: type[Model]) -> str:
    column = model._meta.pk.column if model._meta.pk else None
    assert column is not None
    return column


def _next_ids(model: type[Model], count: int) -> list[int]:
    # Taken from the sequence like any insert's default: unique whoever else
    # inserts at the same time, though not necessarily consecutive. The
    # sequence is looked up once: pg_get_serial_sequence() in the select list
    # ran for every row, nine tenths of the statement (54-61 ms for 20,000
    # ids here, against 6-12 ms).
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH seq AS MATERIALIZED"
            " (SELECT pg_get_serial_sequence(%s, %s)::regclass AS id)"
            " SELECT nextval(seq.id) FROM seq, generate_series(1, %s)",
            [model._meta.db_table, _pk_column(model), count],
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(model: type[Model], fields: Sequence[Field[Any, Any]], rows: Iterable[list[Any]]) -> None:
    table, columns = _table_and_columns(model, fields)
    # The driver's cursor (Django's wrapper has no COPY), its errors turned
    # into Django's as the wrapper would: a unique violation must be the
    # IntegrityError that the caller retries on.
    statement = f"COPY {table} ({columns}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(statement) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _execute_many(
    model: type[Model], fields: Sequence[Field[Any, Any]], rows: list[list[Any]]
) -> None:
    table, columns = _table_and_columns(model, fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _insert_values(
    objs: Sequence[Model],
    model: type[Model],
    fields: Sequence[Field[Any, Any]],
    rows: list[list[Any]],
    *,
    returning: bool,
) -> None:
    """Multi-row ``INSERT ... VALUES``, setting each instance's generated id if ``returning``."""
    table, columns = _table_and_columns(model, fields)
    pk = connection.ops.quote_name(_pk_column(model))
    tail = f" RETURNING {pk}" if returning else ""
    with connection.cursor() as cursor:
        for start, sql, params in _values_statements(table, columns, len(fields), rows):
            cursor.execute(sql + tail, params)
            if returning:
                # In the order of VALUES, as Django's bulk_create relies on too.
                for obj, (new_id,) in zip(objs[start:], cursor.fetchall(), strict=False):
                    obj.pk = new_id


def _max_parameters() -> int:
    if connection.vendor == "sqlite":
        return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return 65_535  # PostgreSQL's protocol limit, were parameters bound on the server
