"""Thin Celery tasks: each calls one service or check."""

import logging

from celery import shared_task

from deposits.selectors import ledger_check

logger = logging.getLogger(__name__)


@shared_task
def verify_ledger() -> bool:
    """The nightly ledger check (P6): a difference is logged as an error for the alerts."""
    report = ledger_check()
    for problem in report.problems:
        logger.error("verify_ledger: %s", problem)
    return report.ok
