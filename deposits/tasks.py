"""Thin Celery tasks: each calls one service or check."""

import logging

from celery import shared_task

from deposits.services import ledger_verify

logger = logging.getLogger(__name__)


@shared_task
def verify_ledger() -> bool:
    """The nightly ledger check (P6), of the transfers since the last consistent one: a
    difference is logged as an error for the alerts (`manage.py verify_ledger --full` checks
    every balance from the start)."""
    report = ledger_verify()
    for problem in report.problems:
        logger.error("verify_ledger: %s", problem)
    return report.ok
