"""Row locks, taken one way: every lock of an app is a named function in its `locks.py`, built on
`for_update` below, and the order they are taken in is written down in docs/locking.md.

`for_update` refuses to run outside a transaction: a lock taken in autocommit is released at
once and protects nothing (Django refuses that on PostgreSQL only; SQLite has no row locks and
would say nothing, so the check is made here on both). tests/test_locks.py fails on a
`select_for_update` anywhere else.
"""

import hashlib
from typing import TypeVar

from django.db import transaction
from django.db.models import Model, QuerySet
from django.db.transaction import TransactionManagementError

RowModel = TypeVar("RowModel", bound=Model)


def require_transaction(what: str) -> None:
    """Refuse `what` unless a transaction is open on the default database."""
    if not transaction.get_connection().in_atomic_block:
        raise TransactionManagementError(
            f"{what} needs a surrounding transaction.atomic(): a lock outside one protects nothing."
        )


def for_update(
    rows: QuerySet[RowModel],
    *,
    no_key: bool = False,
    skip_locked: bool = False,
    of: tuple[str, ...] = (),
) -> QuerySet[RowModel]:
    """`rows` locked as they are read (SELECT … FOR [NO KEY] UPDATE [SKIP LOCKED] [OF …]), in
    the caller's transaction. Several rows are locked in the order the queryset reads them:
    callers order them by primary key, so two transactions never wait on each other in a circle.
    `no_key`: the keys of the rows are not changed (rows referencing them may still be
    inserted meanwhile). `skip_locked`: rows another transaction holds are passed by."""
    require_transaction("A row lock")
    return rows.select_for_update(no_key=no_key, skip_locked=skip_locked, of=of)


def key_lock(namespace: str, key: str) -> None:
    """Serialise the transactions about one `key` that has no row of its own to lock (a phone
    number that SMS are counted for), until the caller's transaction ends: a PostgreSQL
    transaction-level advisory lock on a 64-bit hash of namespace and key. SQLite lets one
    writer at a time anyway, so it takes nothing there."""
    require_transaction("A key lock")
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{namespace}\0{key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)]
        )
