"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from receipts.services import receipts_issue_for_batch, receipts_issue_missing


@shared_task
def issue_receipts_for_batch(batch_id: int) -> int:
    """Queued once a budget batch is committed (fees.services.transfer_to_budget)."""
    return receipts_issue_for_batch(batch_id=batch_id)


@shared_task
def issue_missing_receipts() -> dict[str, int]:
    """Daily catch-up: receipts of transferred payments whose task never ran (P5)."""
    return receipts_issue_missing()
