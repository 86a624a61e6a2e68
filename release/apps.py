from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReleaseConfig(AppConfig):
    name = "release"
    verbose_name = _("Fair release")

    def ready(self) -> None:
        from checkpoints.capacity import register_occupancy
        from release.selectors import reserved_per_counter

        # F1: the places a release window keeps back until its draw occupy their counters.
        register_occupancy("release windows", reserved_per_counter)
