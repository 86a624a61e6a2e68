"""The driver link of a booking (Q5): an unguessable URL that opens the booking's state, its
place in the waiting queue, without signing in. The token is an HMAC of the booking's id and its
link generation under the deployment's secret key: nothing secret is stored, and a new
generation (a new link) makes the old one fail."""

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from bookings.models import Booking, booking_pk_from_number

SALT = "kezek.bookings.driver-link"


def driver_link_token(booking: Booking) -> str:
    value = f"{booking.pk}:{booking.driver_link_generation}"
    return salted_hmac(SALT, value, algorithm="sha256").hexdigest()[:32]


def driver_link_path(booking: Booking) -> str:
    return reverse("driver-link", args=[booking.number, driver_link_token(booking)])


def driver_link_url(booking: Booking) -> str:
    return settings.SITE_URL + driver_link_path(booking)


def booking_of_driver_link(number: str, token: str) -> Booking | None:
    """The booking the link names, or None for a wrong or revoked link (the same answer)."""
    pk = booking_pk_from_number(number)
    if pk is None:
        return None
    booking = (
        Booking.objects.select_related("checkpoint", "vehicle", "created_by").filter(pk=pk).first()
    )
    if booking is None or not constant_time_compare(driver_link_token(booking), token or ""):
        return None
    return booking
