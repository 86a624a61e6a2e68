"""Model instances from the rows of a hand-written SELECT, as the ORM's own read makes them.

For the few reads on every request where Django spent more CPU building the statement than the
database took to answer it. The columns are every concrete field of each model, in the models'
order (`columns`); `instances` applies the converters the ORM applies (on SQLite, for one, the
datetimes come back naive and are made aware) and gives None for a model whose primary key is
NULL (the far side of a LEFT JOIN that found nothing). Fields read through `select_format`
(geometry) are not supported.
"""

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import Model


def columns(model: type[Model], alias: str) -> str:
    """`alias."column", …` of every concrete field of `model`, in field order."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@functools.cache
def _reading(model: type[Model], using: str) -> tuple[list[str], int, list[tuple[int, Any, list]]]:
    """The attribute names, the primary key's place and the converters of the fields that have
    any, with their column: worked out once per model and database. The converters depend on the
    database's settings, not on the thread's connection, which each call passes them."""
    connection = connections[using]
    fields = model._meta.concrete_fields
    converted = []
    for index, field in enumerate(fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            converted.append((index, column, converters))
    return [field.attname for field in fields], fields.index(model._meta.pk), converted


def instances(
    row: Sequence[Any], models: Sequence[type[Model]], using: str = "default"
) -> list[Model | None]:
    """The instances of `models` read from consecutive groups of `row`'s columns."""
    connection = connections[using]
    made: list[Model | None] = []
    start = 0
    for model in models:
        attnames, pk_index, converted = _reading(model, using)
        values = list(row[start : start + len(attnames)])
        start += len(attnames)
        if values[pk_index] is None:
            made.append(None)
            continue
        for index, column, converters in converted:
            for converter in converters:
                values[index] = converter(values[index], column, connection)
        made.append(model.from_db(using, attnames, values))
    if start != len(row):
        raise ValueError(f"The row has {len(row)} columns; the models have {start}.")
    return made
