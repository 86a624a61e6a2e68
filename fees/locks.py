"""The row locks of the budget transfers (docs/locking.md)."""

from django.db.models import QuerySet

from core.locks import for_update
from deposits.models import Transfer
from fees.models import BudgetAccount, BudgetRefundClaim


def payments_unless_taken(payments: QuerySet[Transfer], limit: int) -> list[Transfer]:
    """Up to `limit` of `payments` that no parallel run holds: two runs take disjoint payments
    (SQLite has no row locks and runs writers one at a time)."""
    return list(for_update(payments, no_key=True, skip_locked=True, of=("self",))[:limit])


def fee_payment(pk: int) -> Transfer:
    """A fee being refunded: the budget transfer takes the same row (payments_unless_taken), so
    a fee is either refunded or put in a batch, never both."""
    return for_update(Transfer.objects.filter(pk=pk), no_key=True, of=("self",)).get()


def budget_account(pk: int) -> None:
    """Parallel runs number the day's batches of an account one after another."""
    for_update(BudgetAccount.objects.filter(pk=pk), no_key=True).exists()


def refund_claim(pk: int) -> BudgetRefundClaim:
    """A refund claim on the budget an operator settles, once."""
    return for_update(BudgetRefundClaim.objects.filter(pk=pk), no_key=True).get()
