from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CheckpointsConfig(AppConfig):
    name = "checkpoints"
    verbose_name = _("Checkpoints")

    def ready(self) -> None:
        # Connects the handlers that replace the public reads' versions when rows change.
        from checkpoints import public_reads  # noqa: F401
