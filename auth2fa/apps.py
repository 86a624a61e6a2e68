from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class Auth2FaConfig(AppConfig):
    name = "auth2fa"
    verbose_name = _("People and sign-in")
