"""Thin Celery tasks: each calls one service."""

import datetime as dt

from celery import shared_task

from core import clock
from receipts.services import (
    RECENT_BATCH_DAYS,
    receipts_issue_for_batch,
    receipts_issue_missing,
)


@shared_task
def issue_receipts_for_batch(batch_id: int) -> int:
    """Queued once a budget batch is committed (fees.services.transfer_to_budget)."""
    return receipts_issue_for_batch(batch_id=batch_id)


@shared_task
def issue_missing_receipts() -> dict[str, int]:
    """Daily catch-up: receipts of transferred payments whose task never ran (P5), in the
    batches of the last RECENT_BATCH_DAYS days (the command looks at every batch)."""
    since = clock.local_today() - dt.timedelta(days=RECENT_BATCH_DAYS)
    return receipts_issue_missing(since=since)
