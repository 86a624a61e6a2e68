"""Thin Celery tasks: each calls one service."""

from celery import shared_task

from notify import services


@shared_task
def deliver_message(message_id: int) -> str:
    return services.deliver(message_id=message_id)


@shared_task
def deliver_outbox() -> int:
    return services.deliver_due()


@shared_task
def send_reminders() -> int:
    return services.send_reminders()
