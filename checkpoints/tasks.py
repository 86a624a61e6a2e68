"""Thin Celery tasks: each calls one service or check."""

import logging

from celery import shared_task

from checkpoints.selectors import capacity_check

logger = logging.getLogger(__name__)


@shared_task
def verify_capacity() -> bool:
    """The nightly recount (C6): drift is logged as an error for the operators' alerts."""
    report = capacity_check()
    for problem in report.problems:
        logger.error("verify_capacity: %s", problem)
    return report.ok
