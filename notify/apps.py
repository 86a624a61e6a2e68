from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    name = "notify"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from notify import tasks
        from notify.signals import messages_queued

        messages_queued.connect(tasks.hand_to_worker, dispatch_uid="notify.hand_to_worker")
