"""Thin Celery tasks: each calls one service or check."""

import logging

from celery import shared_task

from checkpoints.selectors import capacity_check
from checkpoints.services import capacity_verified_record

logger = logging.getLogger(__name__)


@shared_task
def verify_capacity() -> bool:
    """The nightly recount (C6) of the days still open to change, from the last consistent one:
    drift is logged as an error for the operators' alerts."""
    report = capacity_check(since_verified=True)
    for problem in report.problems:
        logger.error("verify_capacity: %s", problem)
    capacity_verified_record(report)
    return report.ok
