"""Thin Celery tasks: each calls one service."""

import logging

from celery import shared_task

from fees.services import budget_transfer_make, overdue_payments

logger = logging.getLogger(__name__)


@shared_task
def transfer_to_budget_daily() -> int:
    batches = budget_transfer_make()
    for payment, deadline in overdue_payments():
        # P4: a late payment is an alert; the admin shows them too.
        logger.error(
            "payment %s of %s was due in the budget by %s", payment.pk, payment.amount, deadline
        )
    return len(batches)
