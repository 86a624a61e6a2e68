"""Thin Celery tasks: each calls one service."""

import logging

from celery import shared_task

from notify import services

logger = logging.getLogger(__name__)


@shared_task
def deliver_message(message_id: int) -> str:
    return services.message_deliver(message_id=message_id)


@shared_task
def deliver_outbox() -> int:
    return services.messages_deliver_due()


@shared_task
def send_reminders() -> int:
    return services.reminders_send()


def hand_to_worker(sender, message_ids, **kwargs) -> None:
    """`messages_queued` receiver: one task per message. A broker that cannot take them is
    logged, not raised — the change is committed, and `deliver_outbox` delivers the messages
    within a minute."""
    for message_id in message_ids:
        try:
            deliver_message.delay(message_id)
        except Exception:
            logger.warning(
                "Message #%s was not handed to the worker; deliver_outbox will send it.",
                message_id,
                exc_info=True,
            )
