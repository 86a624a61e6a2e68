"""A queryset's SQL, built by the ORM once per process and run again with new values.

For a few busy reads the ORM spends more time building the statement (subqueries, annotations:
about a millisecond of CPU) than the database spends answering it. Rather than writing such a
statement again by hand, a second copy of the rule that can drift from the first, the ORM
builds it once with stand-ins for the values that change, and every read runs that SQL with its
own values. The queryset stays the one statement of the rule.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import RawQuerySet


@dataclasses.dataclass(frozen=True)
class _Value:
    name: str


class CompiledQuery:
    """`build(**values)` as SQL compiled once per database. Each stand-in must be a value the
    query keeps as one parameter and no other part of the query uses (a negative id, say)."""

    def __init__(self, build: Callable[..., QuerySet], **stand_ins: Any) -> None:
        self._build = build
        self._stand_ins = stand_ins
        self._compiled: dict[str, tuple[Any, str, list[Any]]] = {}

    def _compile(self, alias: str) -> tuple[Any, str, list[Any]]:
        queryset = self._build(**self._stand_ins)
        sql, params = queryset.query.get_compiler(using=alias).as_sql()
        names = {(type(value), value): name for name, value in self._stand_ins.items()}
        template = [_Value(names[(type(p), p)]) if (type(p), p) in names else p for p in params]
        found = [part.name for part in template if isinstance(part, _Value)]
        if sorted(found) != sorted(self._stand_ins):
            raise ValueError(
                f"every stand-in must be one parameter of the query: {sorted(self._stand_ins)}, "
                f"found {sorted(found)}"
            )
        return queryset.model, sql, template

    def run(self, **values: Any) -> RawQuerySet:
        """The rows of `build(**values)`, with its annotations as attributes."""
        vendor = connections[DEFAULT_DB_ALIAS].vendor
        compiled = self._compiled.get(vendor)
        if compiled is None:
            compiled = self._compiled[vendor] = self._compile(DEFAULT_DB_ALIAS)
        model, sql, template = compiled
        params = [values[part.name] if isinstance(part, _Value) else part for part in template]
        return model.objects.raw(sql, params)
