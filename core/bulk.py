"""Many rows of one model written at once, in the caller's transaction (the draw's winners).

`insert(rows)` gives every row its id, as `bulk_create` does where the database returns them:
- PostgreSQL, `COPY_FROM` rows or more: the ids are drawn from the table's sequence in one
  statement, then the rows go in with `COPY … FROM STDIN` (psycopg 3), which skips the
  parsing and planning of a multi-row INSERT and its thousands of parameters;
- otherwise (fewer rows, SQLite): `bulk_create`, which reads the ids back (RETURNING).
What the rows become is the same either way; only the speed differs (docs/runtime.md).

`update(rows, fields)` writes each row's own values of `fields`, as `bulk_update` does, but
joined by primary key to the rows' values (COPYed into a temporary table on PostgreSQL from
`COPY_FROM` rows, else a VALUES list) instead of a CASE expression per field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from django.db import models, transaction

from core.locks import require_transaction

Row = TypeVar("Row", bound=models.Model)

# Below this many rows one INSERT is as quick as the three statements of a COPY.
COPY_FROM = 200
# Rows per INSERT where COPY is not used (SQLite's limit on parameters is 32 766).
INSERT_BATCH = 500
# Values per UPDATE of `update` (SQLite's limit on parameters is 32 766).
UPDATE_VALUES = 30_000


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """`count` new ids of `model`'s table, from its sequence (PostgreSQL), in the caller's
    transaction. The table is first taken in ROW EXCLUSIVE mode, the lock every INSERT takes
    before it draws its id: a reader that waits for the writers of a table to end before it
    reads max(id) (`deposits.locks.transfer_watermark`) then also waits for these ids."""
    require_transaction("Reserving ids")
    connection = transaction.get_connection()
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN ROW EXCLUSIVE MODE")
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def uses_copy(count: int) -> bool:
    return transaction.get_connection().vendor == "postgresql" and count >= COPY_FROM


def insert(rows: Sequence[Row]) -> Sequence[Row]:
    """Insert `rows` (all of one model, without ids) in the caller's transaction; each gets its
    id, in list order. Constraints are checked as for any insert: a violation fails the
    statement, and so the caller's transaction."""
    if not rows:
        return rows
    require_transaction("A bulk insert")
    model = type(rows[0])
    if not uses_copy(len(rows)):
        model._default_manager.bulk_create(rows, batch_size=INSERT_BATCH)
        return rows
    for row, pk in zip(rows, ids_reserve(model, len(rows)), strict=True):
        row.pk = pk
    _copy(model, rows)
    return rows


def _copy(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    connection = transaction.get_connection()
    fields = [field for field in model._meta.concrete_fields if not field.generated]
    _copy_into(connection.ops.quote_name(model._meta.db_table), fields, rows)
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias


def _copy_into(table: str, fields: Sequence[models.Field], rows: Sequence[models.Model]) -> None:
    """`COPY table (fields' columns) FROM STDIN` of the rows' values. The text format: the
    server parses each value as its column's type, so values are given as the ORM would bind
    them (`_value_of`)."""
    connection = transaction.get_connection()
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    values = [_value_of(field, connection) for field in fields]
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([value(row) for value in values])


# Fields whose plain values (`_PLAIN`) psycopg writes as the ORM binds them: for these the
# ORM's preparation (a call chain per value, a tenth of the draw's time) is passed by.
_NATIVE = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "ForeignKey",
        "OneToOneField",
        "CharField",
        "TextField",
        "BooleanField",
        "DecimalField",
        "DateTimeField",
    }
)
# An enum member (TextChoices) or a naive datetime is not plain: the ORM's own way is taken.
_PLAIN = frozenset({int, str, bool, Decimal, type(None)})


def _value_of(field: models.Field, connection: Any) -> Callable[[models.Model], Any]:
    """How the value of `field` of a row is written: as the ORM binds it (`get_db_prep_save`),
    on PostgreSQL with plain values as they are. (SQLite's adapters store datetimes and
    decimals otherwise than the ORM does.)"""
    prepare = field.get_db_prep_save
    attname = field.attname
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda row: prepare(field.pre_save(row, True), connection)
    if connection.vendor != "postgresql" or field.get_internal_type() not in _NATIVE:
        return lambda row: prepare(getattr(row, attname), connection)

    def value(row: models.Model) -> Any:
        plain = getattr(row, attname)
        kind = type(plain)
        if kind in _PLAIN or (kind is dt.datetime and plain.tzinfo is not None):
            return plain
        return prepare(plain, connection)

    return value


def update(rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Write the values of `fields` of `rows` (saved rows of one model), each row its own, in
    the caller's transaction, joined to the table by primary key: on PostgreSQL with
    `COPY_FROM` rows or more copied into a temporary table first, otherwise from a VALUES list,
    one statement per batch. (Django's `bulk_update` builds a CASE per field over the batch,
    whose compiling costs seconds for thousands of rows: docs/runtime.md.)"""
    if not rows:
        return
    require_transaction("A bulk update")
    connection = transaction.get_connection()
    model = type(rows[0])
    meta = model._meta
    columns = [meta.pk] + [meta.get_field(name) for name in fields]
    qn = connection.ops.quote_name
    names = ", ".join(qn(field.column) for field in columns)
    table = qn(meta.db_table)
    pk = qn(meta.pk.column)
    assign = ", ".join(f"{qn(f.column)} = v.{qn(f.column)}" for f in columns[1:])
    # Only the model's own quoted names are put into the statements; the values are bound.
    join = f"UPDATE {table} SET {assign} FROM %s WHERE {table}.{pk} = v.{pk}"  # noqa: S608
    if uses_copy(len(rows)):
        with connection.cursor() as cursor:
            # The columns' own types (no data), dropped again before anything else runs.
            cursor.execute(
                f"CREATE TEMPORARY TABLE bulk_update_rows AS SELECT {names} FROM {table} "  # noqa: S608
                "WITH NO DATA"
            )
            _copy_into("bulk_update_rows", columns, rows)
            cursor.execute(join % "bulk_update_rows AS v")
            cursor.execute("DROP TABLE bulk_update_rows")
        return
    # PostgreSQL types a VALUES list by its values, which are bound as text: cast each to its
    # column's type. SQLite needs none (and its CAST to a date type would make it a number).
    if connection.vendor == "postgresql":
        holders = [f"CAST(%s AS {field.cast_db_type(connection)})" for field in columns]
    else:
        holders = ["%s"] * len(columns)
    one = "(" + ", ".join(holders) + ")"
    values = [_value_of(field, connection) for field in columns]
    size = max(1, UPDATE_VALUES // len(columns))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            params = [value(row) for row in chunk for value in values]
            listed = f"WITH v ({names}) AS (VALUES {', '.join([one] * len(chunk))}) "
            cursor.execute(listed + join % "v", params)
