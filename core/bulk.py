"""Many rows of one model written at once, in the caller's transaction (the draw's winners).

`insert(rows)` gives every row its id, as `bulk_create` does where the database returns them:
- PostgreSQL, `COPY_FROM` rows or more: the ids are drawn from the table's sequence in one
  statement, then the rows go in with `COPY … FROM STDIN` (psycopg 3), which skips the
  parsing and planning of a multi-row INSERT and its thousands of parameters;
- otherwise (fewer rows, SQLite): `bulk_create`, which reads the ids back (RETURNING).
What the rows become is the same either way; only the speed differs (docs/runtime.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import models, transaction

from core.locks import require_transaction

Row = TypeVar("Row", bound=models.Model)

# Below this many rows one INSERT is as quick as the three statements of a COPY.
COPY_FROM = 200
# Rows per INSERT where COPY is not used (SQLite's limit on parameters is 32 766).
INSERT_BATCH = 500


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
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    # The text format: the server parses each value as its column's type, so values are given
    # as the ORM would bind them (`get_db_prep_save`: JSON wrapped, dates aware).
    statement = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(
                [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
            )
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias
