"""Thin Celery tasks: each calls one service."""

import logging

from celery import shared_task

from notify import services

logger = logging.getLogger(__name__)


@shared_task
def deliver_message(message_id: int) -> str:
    return services.message_deliver(message_id=message_id)


@shared_task
def deliver_messages(message_ids: list[int]) -> list[str]:
    return [services.message_deliver(message_id=pk) for pk in message_ids]


@shared_task
def deliver_outbox() -> int:
    return services.messages_deliver_due()


@shared_task
def send_reminders() -> int:
    return services.reminders_send()


# Messages queued together (a draw's thousands) go to the worker this many to a task.
CHUNK = 100


def hand_to_worker(sender, message_ids, **kwargs) -> None:
    """`messages_queued` receiver: a message queued alone is one task, messages queued together
    go in chunks of CHUNK a task. A broker that cannot take them is logged, not raised — the
    change is committed, and `deliver_outbox` delivers the messages within a minute."""
    ids = list(message_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        try:
            if len(ids) == 1:
                deliver_message.delay(chunk[0])
            else:
                deliver_messages.delay(chunk)
        except Exception:
            logger.warning(
                "Message #%s was not handed to the worker; deliver_outbox will send it."
                if len(chunk) == 1
                else "Messages #%s were not handed to the worker; deliver_outbox will send them.",
                ", #".join(str(pk) for pk in chunk),
                exc_info=True,
            )
