from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FeesConfig(AppConfig):
    name = "fees"
    verbose_name = _("Fees")

    def ready(self) -> None:
        from core import notices
        from fees.selectors import mrp_notices

        notices.register(mrp_notices)
