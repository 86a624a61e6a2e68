"""Q10: an operator cancels a single booking with a reason, as D4: the fee refunded, the
deposit released, no strike, the carrier told, audited; in the admin and through the service."""

from decimal import Decimal

import pytest

from auth2fa.roles import CHECKPOINT_STAFF, OPERATORS
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from core.models import AuditEvent
from deposits.selectors import balances_of, ledger_check
from notify.models import Message
from tests.bookings.test_staff_page import ADMIN_LIST, messages_of, person
from tests.worlds import at, book, refused

pytestmark = pytest.mark.django_db

FEE, DEPOSIT = Decimal("4325.00"), Decimal("86500.00")


@pytest.fixture
def operator(django_user_model):
    return person(django_user_model, "operator@registrar.kz", OPERATORS)


def test_q10_an_operator_cancels_one_booking_fee_refunded_deposit_released_no_strike(
    world, operator, clock
):
    world.top_up("1000000.00")
    booking = book(world, start=at(2, 9))
    other = book(world, checkpoint="DOSTYK", start=at(2, 9))
    available = balances_of(world.carrier).available
    services.booking_cancel_by_operator(booking=booking, reason="Permit revoked", actor=operator)
    booking.refresh_from_db()
    assert booking.status == "cancelled_by_operator" and deposit_status(booking) == "released"
    assert balances_of(world.carrier).available == available + FEE + DEPOSIT
    assert Booking.objects.get(pk=other.pk).status == "confirmed"
    event = AuditEvent.objects.get(action="booking.cancelled_by_operator")
    assert event.actor == operator and event.after["reason"] == "Permit revoked"
    assert Message.objects.filter(kind="booking_cancelled_by_operator").exists()
    assert ledger_check().ok
    # No strike: the carrier's own cancellation right after is the first in 90 days (D3).
    again = book(world, start=at(4, 9))
    services.booking_cancel(member=world.member, booking=again)
    again.refresh_from_db()
    assert deposit_status(again) == "released"
    # Only an active booking, only with a reason, only by an operator.
    refused(
        lambda: services.booking_cancel_by_operator(booking=booking, reason="x", actor=operator),
        "not_changeable",
    )
    refused(
        lambda: services.booking_cancel_by_operator(booking=other, reason=" ", actor=operator),
        "validation_error",
    )


def test_q10_staff_at_a_checkpoint_cannot_cancel_a_booking(world, django_user_model, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(2, 9))
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    refused(
        lambda: services.booking_cancel_by_operator(booking=booking, reason="x", actor=officer),
        "forbidden",
    )


def test_q10_the_admin_asks_the_reason_then_cancels(world, operator, signed_in, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(2, 9))
    browser = signed_in(operator)
    selection = {"action": "cancel_by_operator", "_selected_action": [booking.pk], "index": 0}
    page = browser.post(ADMIN_LIST, selection)
    assert page.status_code == 200 and booking.number in page.content.decode()
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"
    empty = browser.post(ADMIN_LIST, {**selection, "apply": "1", "reason": ""})
    assert empty.status_code == 200 and "This field is required." in empty.content.decode()
    done = browser.post(
        ADMIN_LIST, {**selection, "apply": "1", "reason": "Vehicle under arrest"}, follow=True
    )
    assert (
        "Bookings cancelled by the operator, fees refunded, deposits released: 1."
        in messages_of(done)
    )
    assert Booking.objects.get(pk=booking.pk).status == "cancelled_by_operator"
