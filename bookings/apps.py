from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BookingsConfig(AppConfig):
    name = "bookings"
    verbose_name = _("Bookings")

    def ready(self) -> None:
        from bookings.selectors import bookings_per_counter, holds_per_counter, not_crossed_notices
        from checkpoints.capacity import register_occupancy
        from core import notices

        register_occupancy("bookings", bookings_per_counter)
        register_occupancy("slot holds", holds_per_counter)
        notices.register(not_crossed_notices)
