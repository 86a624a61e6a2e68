"""Reads of receipts: a carrier's list by period, service and booking, and public verification."""

import dataclasses
import datetime as dt

from django.db.models import QuerySet

from core import clock
from receipts.codes import CodeState, parse_verification_code
from receipts.models import Receipt

# Roles of a carrier's people that see receipts (A5: the accountant sees the account and
# receipts; the dispatcher does not).
RECEIPT_ROLES = frozenset({"owner", "accountant"})
# The longest period one ZIP may cover.
MAX_ARCHIVE_DAYS = 366


def receipts_of(
    carrier,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    service: str = "",
    booking_id: int | None = None,
) -> QuerySet[Receipt]:
    """The carrier's receipts, newest transfer first, without their PDFs. The period is by the
    day of the transfer to the budget in Almaty time, both ends included."""
    receipts = Receipt.objects.filter(carrier=carrier)
    if since is not None:
        receipts = receipts.filter(transferred_at__gte=clock.start_of_local_day(since))
    if until is not None:
        receipts = receipts.filter(
            transferred_at__lt=clock.start_of_local_day(until + dt.timedelta(days=1))
        )
    if service:
        receipts = receipts.filter(service=service)
    if booking_id is not None:
        receipts = receipts.filter(booking_id=booking_id)
    return receipts.defer("pdf").select_related("batch").order_by("-transferred_at", "-pk")


def receipt_pdf_of(carrier, pk: int) -> Receipt | None:
    """One of the carrier's receipts with its PDF; None for anyone else's (a 404)."""
    return Receipt.objects.filter(carrier=carrier, pk=pk).first()


class Verdict:
    GENUINE = "genuine"
    UNKNOWN = "unknown"  # well-formed, but no receipt has it
    ALTERED = "altered"  # its check part does not match: mistyped or edited
    MALFORMED = "malformed"  # not a receipt code


@dataclasses.dataclass(frozen=True)
class Verification:
    verdict: str
    code: str
    receipt: Receipt | None = None

    @property
    def genuine(self) -> bool:
        return self.verdict == Verdict.GENUINE


def receipt_verify(text: str) -> Verification:
    """Public check of a verification code (P5)."""
    parsed = parse_verification_code(text)
    if parsed.state == CodeState.MALFORMED:
        return Verification(Verdict.MALFORMED, "")
    if parsed.state == CodeState.ALTERED:
        return Verification(Verdict.ALTERED, parsed.code)
    receipt = (
        Receipt.objects.defer("pdf")
        .select_related("batch")
        .filter(verification_code=parsed.code)
        .first()
    )
    if receipt is None:
        return Verification(Verdict.UNKNOWN, parsed.code)
    return Verification(Verdict.GENUINE, parsed.code, receipt)
