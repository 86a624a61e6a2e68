"""Issuing receipts (P5): one per payment of a transferred budget batch, exactly once."""

import dataclasses
import datetime as dt
import hashlib
import logging
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from bookings.models import Booking, BookingChange
from carriers.models import Member
from core import audit, clock
from core.errors import ApplicationError
from core.money import mrp_to_tenge
from deposits.models import Transfer
from fees.models import BudgetBatch, BudgetBatchLine, Service
from fees.selectors import quote
from receipts.codes import new_verification_code, receipt_number
from receipts.models import Receipt
from receipts.pdf import receipt_pdf
from vehicles.plates import format_plate

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Facts:
    service: str
    booking: object | None
    mrp: int | None
    mrp_value: Decimal | None


def _booking_of(payment: Transfer):
    if payment.reference_type != "booking" or not payment.reference_id.isdigit():
        return None
    return (
        Booking.objects.select_related("vehicle", "created_by")
        .filter(pk=int(payment.reference_id))
        .first()
    )


def _rebooking_change(payment: Transfer, booking):
    """The reschedule a re-booking fee paid for: its key names the BookingChange (B5)."""
    prefix = "rebooking_fee:booking_change:"
    key = payment.idempotency_key
    if key.startswith(prefix) and key[len(prefix) :].isdigit():
        return BookingChange.objects.filter(pk=int(key[len(prefix) :]), booking=booking).first()
    return None


def _deposit_mrp(payment: Transfer) -> tuple[int | None, Decimal | None]:
    """A forfeited deposit is 20 MRP at the MRP of the booking date (D1): the schedule and the
    MRP in force when the hold was made, as long as they give the amount held."""
    resolution = getattr(payment, "hold_resolution", None)
    held_at = resolution.hold.created_at if resolution is not None else payment.created_at
    try:
        deposit = quote(Service.DEPOSIT, on=clock.local_date(held_at))
    except ApplicationError:
        return None, None
    if mrp_to_tenge(deposit.mrp, deposit.mrp_value) == payment.amount:
        return deposit.mrp, deposit.mrp_value
    return None, deposit.mrp_value


def _facts_of(payment: Transfer) -> _Facts:
    booking = _booking_of(payment)
    if payment.kind == Transfer.Kind.DEPOSIT_FORFEIT:
        mrp, mrp_value = _deposit_mrp(payment)
        return _Facts(Service.DEPOSIT, booking, mrp, mrp_value)
    if payment.kind == Transfer.Kind.REBOOKING_FEE:
        change = _rebooking_change(payment, booking) if booking is not None else None
        if change is not None:
            return _Facts(Service.REBOOKING, booking, change.fee_mrp, change.fee_mrp_value)
        return _Facts(Service.REBOOKING, booking, None, None)
    if booking is not None:
        return _Facts(booking.service, booking, booking.fee_mrp, booking.fee_mrp_value)
    return _Facts("", None, None, None)


def receipt_language(carrier, booking=None) -> str:
    """The carrier's language: that of its owner (the person who registered it), so all of a
    carrier's receipts, and the ZIP of a period, are in one language; else that of the person who
    booked; else the site's default."""
    owner = (
        Member.objects.filter(carrier=carrier, role=Member.Role.OWNER)
        .select_related("user")
        .order_by("created_at", "pk")
        .first()
    )
    languages = {code for code, _name in settings.LANGUAGES}
    for candidate in (
        owner.user.language if owner is not None else None,
        booking.created_by.language if booking is not None else None,
    ):
        if candidate in languages:
            return candidate
    return settings.LANGUAGE_CODE


def _receipt_for(line: BudgetBatchLine) -> Receipt:
    """An unsaved receipt with its facts and its PDF."""
    payment, batch = line.payment, line.batch
    carrier = payment.carrier
    facts = _facts_of(payment)
    booking = facts.booking
    receipt = Receipt(
        payment=payment,
        batch=batch,
        carrier=carrier,
        number=receipt_number(year=clock.local_date(batch.executed_at).year, serial=line.pk),
        verification_code=new_verification_code(),
        language=receipt_language(carrier, booking),
        service=facts.service,
        payer_name=carrier.name,
        payer_iin_bin=carrier.iin_bin,
        booking=booking,
        booking_number=booking.number if booking is not None else "",
        vehicle_plate=(
            format_plate(booking.vehicle_plate, booking.vehicle.registration_country)
            if booking is not None
            else ""
        ),
        mrp=facts.mrp,
        mrp_value=facts.mrp_value,
        amount=line.amount,
        paid_at=line.paid_at,
        transferred_at=batch.executed_at,
        registrar_name=settings.REGISTRAR_NAME,
        registrar_iban=settings.REGISTRAR_IBAN,
        issued_at=clock.now(),
    )
    receipt.pdf = receipt_pdf(receipt)
    receipt.pdf_sha256 = hashlib.sha256(receipt.pdf).hexdigest()
    return receipt


def receipts_issue_for_batch(*, batch_id: int) -> int:
    """Issue the receipts of a transferred batch (P5); returns how many were made now.

    Idempotent: a payment that has a receipt is skipped, and the one-to-one on the payment makes
    a second, concurrent run lose its insert instead of making a second receipt. The PDF is made
    before the short transaction that stores it."""
    batch = BudgetBatch.objects.get(pk=batch_id)
    lines = (
        BudgetBatchLine.objects.filter(batch=batch, payment__receipt__isnull=True)
        .select_related("payment__carrier", "batch")
        .order_by("pk")
    )
    issued = 0
    for line in lines:
        if line.payment.carrier_id is None:  # not a carrier's payment: nobody to issue it to
            continue
        receipt = _receipt_for(line)
        try:
            with transaction.atomic():
                receipt.save()
                audit.record(
                    "receipt.issued",
                    target=receipt,
                    after={
                        "number": receipt.number,
                        "payment": line.payment_id,
                        "payment_order": batch.payment_order_number,
                        "amount": receipt.amount,
                        "pdf_sha256": receipt.pdf_sha256,
                    },
                )
        except IntegrityError:
            if Receipt.objects.filter(payment_id=line.payment_id).exists():
                continue  # another run issued it meanwhile
            raise
        issued += 1
    if issued:
        logger.info("%s receipts issued for %s", issued, batch.payment_order_number)
    return issued


# The daily catch-up looks at the batches of this many recent days: a batch's receipts are
# issued when it commits, so only a worker that was down misses them, and not for longer.
RECENT_BATCH_DAYS = 14


def receipts_issue_missing(*, since: dt.date | None = None) -> dict[str, int]:
    """Catch up: receipts for transferred payments that have none (batches made while the
    worker was down, or before receipts existed), in the batches of `since` and after (every
    batch when None): the daily job reads the recent batches' lines, not every payment ever."""
    lines = BudgetBatchLine.objects.filter(
        payment__receipt__isnull=True, payment__carrier__isnull=False
    )
    if since is not None:
        lines = lines.filter(batch__day__gte=since)
    batch_ids = lines.values_list("batch_id", flat=True).distinct().order_by("batch_id")
    counts = {"batches": 0, "receipts": 0}
    for batch_id in list(batch_ids):
        counts["batches"] += 1
        counts["receipts"] += receipts_issue_for_batch(batch_id=batch_id)
    return counts
