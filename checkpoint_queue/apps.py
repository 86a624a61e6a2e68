from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckpointQueueConfig(AppConfig):
    """The queue at a checkpoint (Q1–Q9): the waiting area, the call order, predicted calls,
    crossings and refusals, the plate cameras' events, the staff screen and the live board. It
    stands above bookings and checkpoints; nothing below imports it."""

    name = "checkpoint_queue"
    verbose_name = _("Queue at the checkpoint")

    def ready(self) -> None:
        from checkpoint_queue.offline import held_back_notices
        from core import notices

        notices.register(held_back_notices)
