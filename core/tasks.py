"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from core import audit, healthz, idempotency, notices, visits


@shared_task
def seal_audit() -> int:
    return sum(batch.event_count for batch in audit.seal_all())


@shared_task
def seal_audit_sweep() -> int:
    """Hourly: events whose transaction committed too late for the frequent sealer's window."""
    return sum(batch.event_count for batch in audit.seal_all(sweep=True))


@shared_task
def publish_audit_head() -> None:
    audit.publish_head()


@shared_task
def flush_visit_counters() -> int:
    return visits.flush_pending()


@shared_task
def purge_idempotency_keys() -> int:
    return idempotency.idempotency_purge_expired()


@shared_task
def worker_heartbeat() -> None:
    """Beat runs this every 30 s; /healthz reads the time it last ran."""
    healthz.heartbeat_record()


@shared_task
def log_operator_notices() -> int:
    return len(notices.notices_log())
