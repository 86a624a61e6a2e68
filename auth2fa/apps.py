from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class Auth2FaConfig(AppConfig):
    name = "auth2fa"
    verbose_name = _("People and sign-in")

    def ready(self) -> None:
        from auth2fa import roles

        # Staff, operators and auditors as groups, re-synced after every migrate (A5).
        post_migrate.connect(roles.sync_roles, sender=self, dispatch_uid="auth2fa.sync_roles")
