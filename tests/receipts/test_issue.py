"""Receipts are issued once a payment's batch is transferred to the budget (P4, P5), exactly once,
with the facts of the payment, its booking, the batch and the registrar, as a PDF in the
carrier's language."""

import io
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import translation
from pypdf import PdfReader

from bookings import services as bookings
from carriers.models import Member
from deposits import services as ledger
from fees.services import budget_transfer_make
from receipts.codes import CodeState, parse_verification_code
from receipts.models import Receipt
from receipts.services import receipts_issue_for_batch
from tests.receipts.helpers import book, pdf_text, person_of, slot_after, transfer

pytestmark = pytest.mark.django_db

FEE = Decimal("4325.00")  # 1 MRP in 2026


def set_language(world, language: str) -> None:
    user = world.member.user
    user.language = language
    user.save(update_fields=["language"])


def test_p5_a_receipt_exists_only_after_its_batch_is_transferred(world, eager, commit, capsys):
    world.top_up("1000000.00")
    booking = book(world)
    assert not Receipt.objects.exists()  # paid, not yet transferred: no receipt

    (batch,) = transfer(commit)

    receipt = Receipt.objects.get()
    line = batch.lines.get()
    assert (receipt.payment_id, receipt.batch, receipt.carrier) == (
        line.payment_id,
        batch,
        world.carrier,
    )
    assert receipt.number == f"R-2026-{line.pk:07d}"
    assert receipt.booking == booking and receipt.amount == FEE
    assert receipt.transferred_at == batch.executed_at and receipt.paid_at == line.paid_at
    assert bytes(receipt.pdf).startswith(b"%PDF")
    assert parse_verification_code(receipt.verification_code).state == CodeState.WELL_FORMED

    # Idempotent: the task again, the catch-up command, another transfer run change nothing.
    assert receipts_issue_for_batch(batch_id=batch.pk) == 0
    call_command("issue_missing_receipts")
    assert "no receipts missing" in capsys.readouterr().out
    assert transfer(commit) == []
    assert Receipt.objects.count() == 1


def test_p5_batches_transferred_while_the_worker_was_away_are_caught_up(world, capsys):
    world.top_up("1000000.00")
    book(world)
    (batch,) = budget_transfer_make()  # committed, but its task never ran
    assert not Receipt.objects.exists()
    call_command("issue_missing_receipts")
    assert "1 receipts issued for 1 batches" in capsys.readouterr().out
    assert Receipt.objects.get().batch == batch
    call_command("issue_missing_receipts", batch=batch.pk)
    assert "0 receipts issued" in capsys.readouterr().out


def test_p5_fee_rebooking_fee_and_forfeited_deposit_each_get_their_facts(world, eager, commit):
    world.top_up("1000000.00")
    booking = book(world)
    bookings.booking_reschedule(member=world.member, booking=booking, slot_start=slot_after(3))
    ledger.hold_forfeit(hold=booking.deposit_hold, reason="second no-show in 90 days")

    batches = {batch.kind: batch for batch in transfer(commit)}

    receipts = {r.service: r for r in Receipt.objects.all()}
    assert set(receipts) == {"regular", "rebooking", "deposit"}
    facts = {
        service: (r.mrp, r.mrp_value, r.amount, r.booking_number, r.vehicle_plate, r.batch.kind)
        for service, r in receipts.items()
    }
    assert facts == {
        "regular": (1, FEE, FEE, booking.number, "123 ABC 02", "fees"),
        "rebooking": (100, FEE, FEE * 100, booking.number, "123 ABC 02", "fees"),
        "deposit": (20, FEE, FEE * 20, booking.number, "123 ABC 02", "forfeits"),
    }
    assert receipts["deposit"].batch == batches["forfeits"]
    assert receipts["deposit"].batch.budget_code == "206114"
    assert receipts["regular"].batch.budget_code == "105429"
    assert len({r.number for r in receipts.values()}) == 3
    assert len({r.verification_code for r in receipts.values()}) == 3


def test_p5_the_pdf_carries_the_key_facts(world, eager, commit):
    set_language(world, "en")
    world.top_up("1000000.00")
    booking = book(world)
    (batch,) = transfer(commit)
    receipt = Receipt.objects.get()

    text = pdf_text(receipt.pdf)

    for fact in [
        "Electronic receipt of the money transferred to the state budget",
        receipt.number,
        "Steppe Freight LLP",  # the payer
        "230140012340",  # its BIN
        "Regular queue",
        booking.number,
        "123 ABC 02",  # the plate
        "1 MRP × 4 325.00 ₸",  # MRP count and value
        "4 325.00 ₸",
        "20.03.2026 10:00",  # paid and transferred at, Almaty time
        batch.payment_order_number,
        "105429",  # KBK
        "911",  # KNP
        "990240001128",  # the treasury's BIN
        'JSC "Information and Accounting Center"',  # the registrar
        "KZ86125KZT5004100100",
        receipt.verification_code,
        "http://127.0.0.1:8000/receipts/verify/",
        "no certificate of completed work is issued",  # P5
    ]:
        assert fact in text, fact
    assert len(PdfReader(io.BytesIO(bytes(receipt.pdf))).pages) == 1


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
def test_w1_p5_the_receipt_is_in_the_carriers_language(world, eager, commit, language):
    set_language(world, language)
    world.top_up("1000000.00")
    book(world)
    transfer(commit)
    receipt = Receipt.objects.get()
    assert receipt.language == language

    text = pdf_text(receipt.pdf)

    with translation.override(language):
        labels = [
            translation.gettext(msgid)
            for msgid in (
                "Electronic receipt of the money transferred to the state budget",
                "Regular queue",
                "IIN/BIN",
                "Amount",
                "Recipient",
                "MRP",
            )
        ]
    for label in labels:
        assert label in text, (language, label)
    if language != "en":
        assert "Regular queue" not in text and "IIN/BIN" not in text
    reader = PdfReader(io.BytesIO(bytes(receipt.pdf)))
    assert reader.trailer["/Root"].get("/Lang") == language


def test_p5_the_carriers_language_is_its_owners_whoever_booked(world, eager, commit, fake_twilio):
    set_language(world, "kk")
    dispatcher = person_of(world, fake_twilio, "dispatcher", n=0)
    dispatcher.language = "en"
    dispatcher.save(update_fields=["language"])
    world.top_up("1000000.00")
    bookings.booking_create(
        member=Member.objects.get(user=dispatcher),
        request=bookings.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service="regular",
            slot_start=slot_after(),
            vehicle_id=world.truck.pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )
    transfer(commit)
    assert Receipt.objects.get().language == "kk"


def test_p5_the_daily_catch_up_reads_only_the_recent_batches(world, clock):
    """At national size the catch-up scanned every payment ever against every receipt (2.1 s a
    run): the daily job reads the lines of the last RECENT_BATCH_DAYS days' batches only; the
    command still catches up every batch."""
    import datetime as dt

    from core import clock as kezek_clock
    from receipts.services import RECENT_BATCH_DAYS, receipts_issue_missing
    from receipts.tasks import issue_missing_receipts

    world.top_up("1000000.00")
    book(world)
    (old,) = budget_transfer_make()  # its task never ran
    clock.move_to(kezek_clock.now() + dt.timedelta(days=RECENT_BATCH_DAYS + 1))
    book(world, vehicle=world.tractor, start=slot_after())
    (recent,) = budget_transfer_make()
    assert issue_missing_receipts.apply().get() == {"batches": 1, "receipts": 1}
    assert list(Receipt.objects.values_list("batch_id", flat=True)) == [recent.pk]
    assert receipts_issue_missing() == {"batches": 1, "receipts": 1}  # every batch
    assert Receipt.objects.filter(batch=old).exists()
