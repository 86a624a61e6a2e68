"""The booking confirmation (B11): a PDF with the booking's facts and a QR code staff scan."""

import segno
from django.template.loader import render_to_string

from bookings.driver_links import driver_link_url
from bookings.models import Booking
from bookings.selectors import deposit_status
from vehicles.plates import format_plate


def qr_svg_data_uri(booking: Booking) -> str:
    """The QR code staff scan: the booking number, nothing else (no personal data in it)."""
    return segno.make(booking.number, error="m").svg_data_uri(scale=6, border=2)


def confirmation_pdf(booking: Booking) -> bytes:
    from weasyprint import HTML

    html = render_to_string(
        "bookings/confirmation_pdf.html",
        {
            "booking": booking,
            "qr": qr_svg_data_uri(booking),
            "vehicle_plate": format_plate(
                booking.vehicle_plate, booking.vehicle.registration_country
            ),
            "trailer_plate": (
                format_plate(booking.trailer_plate, booking.trailer.registration_country)
                if booking.trailer_id
                else ""
            ),
            "drivers": [link.driver for link in booking.driver_links.all()],
            "deposit_status": deposit_status(booking),
            # Q5: the driver link, for a copy printed for the driver (while the booking lives).
            "driver_link": driver_link_url(booking) if booking.is_active else "",
            "driver_qr": (
                segno.make(driver_link_url(booking), error="m").svg_data_uri(scale=3, border=2)
                if booking.is_active
                else ""
            ),
        },
    )
    return HTML(string=html).write_pdf()
