"""The row locks of the ledger's requests (docs/locking.md). Balances are never locked with a
SELECT: a transfer moves them with conditional UPDATEs (deposits.services._apply)."""

import time

from django.db import OperationalError, connection, transaction

from core.locks import for_update
from deposits.models import RefundRequest, StatementEntry, Transfer

# One attempt at the watermark waits at most this long. Transfers that start meanwhile queue
# behind the attempt, so it stays well below their own lock_timeout (DB_LOCK_TIMEOUT_MS, a
# request's 503 busy); between attempts they go on. 60 attempts wait two minutes at most.
WATERMARK_WAIT = "1s"
WATERMARK_ATTEMPTS = 60
WATERMARK_PAUSE_SECONDS = 1.0


def refund_request(pk: int) -> RefundRequest:
    """A refund request an operator resolves, once."""
    return for_update(RefundRequest.objects.filter(pk=pk), no_key=True).get()


def statement_entry(pk: int) -> StatementEntry:
    """A parked bank statement line an operator assigns, once."""
    return for_update(StatementEntry.objects.filter(pk=pk), no_key=True).get()


def transfer_watermark(
    *, attempts: int = WATERMARK_ATTEMPTS, pause: float = WATERMARK_PAUSE_SECONDS
) -> int:
    """The id T such that every transfer with id <= T is committed (or never will be): where
    `verify_ledger` may record the ledger as verified (P6). 0 when there is no transfer.

    A transfer's id is drawn at its INSERT but its transaction commits later, so a plain
    max(id) can pass over a lower id still uncommitted, which a check would then never read.
    On PostgreSQL, SHARE mode conflicts with the ROW EXCLUSIVE lock that every INSERT holds to
    the end of its transaction: taking it waits for the transactions writing transfers to end,
    and lets no new one write, for the instant max(id) is read; ids drawn later are higher.
    The lock is held by a short transaction of its own: call this outside a transaction (inside
    one the lock would last until that ends). A wait beyond WATERMARK_WAIT gives way to the
    writers queued behind it and tries again; OperationalError after `attempts`.

    On SQLite one writer runs at a time and its rows are invisible until it commits, with ids
    above every committed one, so max(id) is exact as it is."""
    for _attempt in range(attempts - 1):
        try:
            return _watermark_read()
        except OperationalError as error:
            if not _lock_wait_ran_out(error):
                raise
        time.sleep(pause)
    return _watermark_read()


def _watermark_read() -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{WATERMARK_WAIT}'")
                cursor.execute(f"LOCK TABLE {Transfer._meta.db_table} IN SHARE MODE")
        return Transfer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _lock_wait_ran_out(error: OperationalError) -> bool:
    # As core.api_errors.is_lock_timeout reads it (not imported: it loads the REST framework,
    # whose settings import the services that import this module).
    cause = error.__cause__
    return getattr(cause, "sqlstate", None) == "55P03" or "database is locked" in str(error)
