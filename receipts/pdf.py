"""The receipt as a PDF (P5): A4, in the receipt's language, with a QR code of its public
verification page. Made once, when the receipt is issued; downloads serve the stored bytes."""

import segno
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation


def verification_url(code: str) -> str:
    return settings.SITE_URL + reverse("receipt-verify-code", args=[code])


def receipt_pdf(receipt) -> bytes:
    """Render an (unsaved or saved) receipt in its own language."""
    from weasyprint import HTML

    url = verification_url(receipt.verification_code)
    with translation.override(receipt.language):
        html = render_to_string(
            "receipts/receipt_pdf.html",
            {
                "receipt": receipt,
                "batch": receipt.batch,
                "verify_url": url,
                "verify_page": settings.SITE_URL + reverse("receipt-verify"),
                "qr": segno.make(url, error="m").svg_data_uri(scale=4, border=2),
            },
        )
    return HTML(string=html, base_url=settings.SITE_URL).write_pdf()
