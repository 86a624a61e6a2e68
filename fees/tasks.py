"""Thin Celery tasks: each calls one service."""

import logging

from celery import shared_task

from fees.services import overdue_payments, transfer_to_budget

logger = logging.getLogger(__name__)


@shared_task
def transfer_to_budget_daily() -> int:
    batches = transfer_to_budget()
    for payment, deadline in overdue_payments():
        # P4: a late payment is an alert; the admin shows them too.
        logger.error(
            "payment %s of %s was due in the budget by %s", payment.pk, payment.amount, deadline
        )
    return len(batches)
