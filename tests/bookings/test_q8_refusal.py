"""Q8: staff turn a vehicle back at the checkpoint with a reason; its deposit then follows D3 as
for a no-show (a refusal is a strike)."""

import pytest

from auth2fa.roles import CHECKPOINT_STAFF
from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoints.models import StaffAssignment
from core.models import AuditEvent
from deposits.selectors import ledger_check
from tests.bookings.test_staff_page import SCREEN, act, messages_of, page_text, person
from tests.worlds import at, book, refused, trucks

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(world, django_user_model):
    officer = person(django_user_model, "officer@kordai.kz", CHECKPOINT_STAFF)
    StaffAssignment.objects.create(user=officer, checkpoint=world.checkpoint)
    return officer


def arrived(world, staff, clock, **kwargs):
    booking = book(world, start=at(1, 9), **kwargs)
    clock.move_to(at(1, 8))
    return services.booking_mark_arrived(booking=booking, actor=staff)


def test_q8_d3_a_refusal_is_a_strike_the_first_forgiven_the_second_forfeits(world, staff, clock):
    world.top_up("10000000.00")
    first = arrived(world, staff, clock)
    services.booking_refuse(booking=first, reason="documents", actor=staff)
    first.refresh_from_db()
    assert first.status == "refused" and deposit_status(first) == "released"
    assert first.refusal_reason == "documents" and staff.email in first.refused_by
    event = AuditEvent.objects.get(action="booking.refused")
    assert event.actor == staff and event.after["deposit"] == "released"
    # The vehicle is free again (B6); a second refusal within 90 days forfeits its deposit.
    clock.move_to(at(2, 0))
    second = book(world, start=at(2, 9))
    clock.move_to(at(2, 8))
    services.booking_mark_arrived(booking=second, actor=staff)
    clock.move_to(at(2, 9))
    services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    services.booking_refuse(booking=second, reason="other", note="Seal broken", actor=staff)
    second.refresh_from_db()
    assert second.status == "refused" and deposit_status(second) == "forfeited"
    assert ledger_check().ok


def test_q8_a_refusal_needs_a_reason_and_a_vehicle_at_the_checkpoint(world, staff, clock):
    world.top_up("10000000.00")
    waiting = book(world, start=at(1, 9))
    refused(
        lambda: services.booking_refuse(booking=waiting, reason="documents", actor=staff),
        "not_changeable",
    )
    here = arrived(world, staff, clock, vehicle=trucks(world, 1)[0])
    refused(
        lambda: services.booking_refuse(booking=here, reason="", actor=staff), "validation_error"
    )
    refused(
        lambda: services.booking_refuse(booking=here, reason="other", note=" ", actor=staff),
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
