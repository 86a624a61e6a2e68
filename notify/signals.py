from django.dispatch import Signal

# Sent after the transaction that queued outbox messages committed, with `message_ids`: the
# worker hand-off (notify.tasks) listens, so the services need not know Celery's tasks.
messages_queued = Signal()
