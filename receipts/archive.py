"""All receipts of a period as one ZIP of their PDFs (P5: accountants download a period at once)."""

import datetime as dt
import io
import tempfile
import zipfile

from django.http import FileResponse

from core import clock
from receipts.models import Receipt

# Kept in memory up to this size, then in a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


def archive_name(since: dt.date, until: dt.date) -> str:
    return f"kezek-receipts-{since:%Y%m%d}-{until:%Y%m%d}.zip"


def receipts_zip(receipts) -> tempfile.SpooledTemporaryFile:
    """A ZIP with one `<number>.pdf` per receipt of the queryset, and nothing else. The PDFs are
    stored as they are (they are compressed already); each is dated by its transfer."""
    ids = list(receipts.values_list("pk", flat=True))
    # Handed to the response, which closes it once sent.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        rows = (
            Receipt.objects.filter(pk__in=ids)
            .order_by("transferred_at", "pk")
            .values_list("number", "transferred_at", "pdf")
        )
        for number, transferred_at, pdf in rows.iterator(chunk_size=100):
            info = zipfile.ZipInfo(
                f"{number}.pdf",
                date_time=transferred_at.astimezone(clock.ALMATY).timetuple()[:6],
            )
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, bytes(pdf))
    spool.seek(0)
    return spool


def zip_response(receipts, *, since: dt.date, until: dt.date) -> FileResponse:
    return FileResponse(
        receipts_zip(receipts),
        as_attachment=True,
        filename=archive_name(since, until),
        content_type="application/zip",
    )


def pdf_response(receipt: Receipt) -> FileResponse:
    return FileResponse(
        io.BytesIO(bytes(receipt.pdf)),
        as_attachment=True,
        filename=f"{receipt.number}.pdf",
        content_type="application/pdf",
    )
