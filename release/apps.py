from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReleaseConfig(AppConfig):
    name = "release"
    verbose_name = _("Fair release")

    def ready(self) -> None:
        from checkpoints.capacity import register_occupancy
        from checkpoints.services import register_places_freed
        from open_data.figures import register_requested_source
        from release.selectors import requests_per_checkpoint, reserved_per_counter
        from release.tasks import places_freed

        # F1: the places a release window keeps back until its draw occupy their counters.
        register_occupancy("release windows", reserved_per_counter)
        # F1, F7: a place freed on a day with a window is kept for its draw or its waitlist.
        register_places_freed("release windows", places_freed)
        # W5: the statistics' "requested" figure; open_data knows nothing of the draw.
        register_requested_source("release draws", requests_per_checkpoint)
