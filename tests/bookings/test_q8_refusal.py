"""Q8: staff turn a vehicle back at the checkpoint with a reason; its deposit then follows D3 as
for a no-show (a refusal is a strike)."""

import datetime as dt
from decimal import Decimal

import pytest

from auth2fa.roles import CHECKPOINT_STAFF
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import services as queue_services
from checkpoints.models import StaffAssignment
from core.models import AuditEvent
from deposits import services as ledger
from deposits.selectors import balances_of, ledger_check
from tests.bookings.test_staff_page import SCREEN, act, messages_of, page_text, person
from tests.worlds import at, book, refused, trucks

pytestmark = pytest.mark.django_db

DEPOSIT = Decimal("86500.00")


def spend_all(world):
    """The carrier asks for every tenge of its available balance back (P3)."""
    ledger.refund_request(
        carrier=world.carrier,
        amount=balances_of(world.carrier).available,
        iban="KZ86125KZT5004100100",
        requested_by=world.member.user,
    )


@pytest.fixture
def staff(world, django_user_model):
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=officer, checkpoint=world.checkpoint)
    return officer


def arrived(world, staff, clock, **kwargs):
    booking = book(world, start=at(1, 9), **kwargs)
    clock.move_to(at(1, 8))
    return queue_services.booking_mark_arrived(booking=booking, actor=staff)


def test_q8_d3_a_refusal_is_a_strike_the_first_forgiven_the_second_forfeits(world, staff, clock):
    world.top_up("10000000.00")
    first = arrived(world, staff, clock)
    queue_services.booking_refuse(booking=first, reason="documents", actor=staff)
    first.refresh_from_db()
    assert first.status == "refused" and deposit_status(first) == "released"
    assert first.refusal_reason == "documents" and staff.email in first.refused_by
    event = AuditEvent.objects.get(action="booking.refused")
    assert event.actor == staff and event.after["deposit"] == "released"
    # The vehicle is free again (B6); a second refusal within 90 days forfeits its deposit.
    clock.move_to(at(2, 0))
    second = book(world, start=at(2, 9))
    clock.move_to(at(2, 8))
    queue_services.booking_mark_arrived(booking=second, actor=staff)
    clock.move_to(at(2, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_refuse(booking=second, reason="other", note="Seal broken", actor=staff)
    second.refresh_from_db()
    assert second.status == "refused" and deposit_status(second) == "forfeited"
    assert ledger_check().ok


def test_q8_a_refusal_needs_a_reason_and_a_vehicle_at_the_checkpoint(world, staff, clock):
    world.top_up("10000000.00")
    waiting = book(world, start=at(1, 9))
    refused(
        lambda: queue_services.booking_refuse(booking=waiting, reason="documents", actor=staff),
        "not_changeable",
    )
    here = arrived(world, staff, clock, vehicle=trucks(world, 1)[0])
    refused(
        lambda: queue_services.booking_refuse(booking=here, reason="", actor=staff),
        "validation_error",
    )
    refused(
        lambda: queue_services.booking_refuse(booking=here, reason="other", note=" ", actor=staff),
        "validation_error",
    )
    assert Booking.objects.get(pk=here.pk).status == "arrived"


def test_q8_staff_refuse_from_their_screen(world, staff, signed_in, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    browser = signed_in(staff)
    screen = page_text(browser.get(SCREEN, {"q": booking.number}))
    assert 'value="refuse"' in screen and "Not eligible for out-of-turn passage" in screen
    response = act(
        browser, action="refuse", booking=booking.pk, reason="documents", q=booking.number
    )
    (message,) = messages_of(response)
    assert booking.number in message and "Documents missing or not valid" in message
    assert Booking.objects.get(pk=booking.pk).status == "refused"


# --- Undo (Q8): staff undo their own last step within 10 minutes ------------------------------


def test_q8_staff_undo_their_own_last_step_within_10_minutes(world, staff, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    assert queue_services.booking_undo_last_step(booking=booking, actor=staff) == "booking.arrived"
    booking.refresh_from_db()
    assert booking.status == "confirmed" and booking.arrived_at is None
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    clock.move_to(at(1, 8) + dt.timedelta(minutes=10, seconds=1))
    refused(
        lambda: queue_services.booking_undo_last_step(booking=booking, actor=staff),
        "not_changeable",
    )
    assert AuditEvent.objects.filter(action="booking.step_undone").count() == 1


def test_q8_only_ones_own_last_step_is_undone(world, staff, django_user_model, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    colleague = person(django_user_model, "second@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=colleague, checkpoint=world.checkpoint)
    refused(
        lambda: queue_services.booking_undo_last_step(booking=booking, actor=colleague),
        "not_changeable",
    )


def test_q8_undoing_a_crossing_holds_the_deposit_again(world, staff, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    clock.move_to(at(1, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=booking, actor=staff)
    assert balances_of(world.carrier).held == 0
    queue_services.booking_undo_last_step(booking=booking, actor=staff)
    booking.refresh_from_db()
    assert booking.status == "called" and deposit_status(booking) == "held"
    assert balances_of(world.carrier).held == DEPOSIT
    queue_services.booking_mark_crossed(booking=booking, actor=staff)
    booking.refresh_from_db()
    assert booking.status == "crossed" and balances_of(world.carrier).held == 0
    assert ledger_check().ok


def test_q8_a_crossing_whose_released_deposit_was_spent_is_not_undone(world, staff, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    clock.move_to(at(1, 9))
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=booking, actor=staff)
    spend_all(world)
    refused(
        lambda: queue_services.booking_undo_last_step(booking=booking, actor=staff),
        "not_changeable",
    )
    assert Booking.objects.get(pk=booking.pk).status == "crossed"


def test_q8_undoing_a_forgiven_refusal_puts_the_vehicle_back(world, staff, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    queue_services.booking_refuse(booking=booking, reason="documents", actor=staff)
    queue_services.booking_undo_last_step(booking=booking, actor=staff)
    booking.refresh_from_db()
    assert booking.status == "arrived" and booking.refusal_reason == ""
    assert deposit_status(booking) == "held" and balances_of(world.carrier).held == DEPOSIT
    assert ledger_check().ok


def test_q8_staff_undo_from_their_screen(world, staff, signed_in, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    response = act(signed_in(staff), action="undo", booking=booking.pk, q=booking.number)
    assert messages_of(response) == [
        f"Your last step on booking {booking.number} is undone: it is confirmed again."
    ]


def test_q8_the_carrier_sending_the_driver_link_does_not_stop_staffs_undo(world, staff, clock):
    world.top_up("10000000.00")
    booking = arrived(world, staff, clock)
    services.driver_link_send(member=world.member, booking=booking)
    services.driver_link_renew(member=world.member, booking=booking)
    assert queue_services.booking_undo_last_step(booking=booking, actor=staff) == "booking.arrived"
