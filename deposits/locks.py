"""The row locks of the ledger's requests (docs/locking.md). Balances are never locked with a
SELECT: a transfer moves them with conditional UPDATEs (deposits.services._apply)."""

from core.locks import for_update
from deposits.models import RefundRequest, StatementEntry


def refund_request(pk: int) -> RefundRequest:
    """A refund request an operator resolves, once."""
    return for_update(RefundRequest.objects.filter(pk=pk), no_key=True).get()


def statement_entry(pk: int) -> StatementEntry:
    """A parked bank statement line an operator assigns, once."""
    return for_update(StatementEntry.objects.filter(pk=pk), no_key=True).get()
