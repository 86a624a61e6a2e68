"""Q8: nothing stays in the waiting area for ever. A vehicle arrived or called but neither
crossed nor refused a day after its check-in window is closed as not crossed: its deposit comes
back, it gets no strike, it may book again, and the operators are told."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from bookings import services
from bookings.selectors import deposit_status
from checkpoint_queue import services as queue_services
from core import notices
from core.models import AuditEvent
from deposits.selectors import balances_of, ledger_check
from tests.worlds import at, book

pytestmark = pytest.mark.django_db

DEPOSIT = Decimal("86500.00")


def test_q8_a_vehicle_arrived_and_never_called_ends_not_crossed_and_books_again(
    world, staff, clock
):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    # Its check-in window closed at 11:00; a day later it is closed.
    clock.move_to(at(2, 11) - dt.timedelta(minutes=1))
    assert queue_services.not_crossed_sweep() == 0
    clock.move_to(at(2, 11))
    assert queue_services.not_crossed_sweep() == 1
    booking.refresh_from_db()
    assert booking.status == "not_crossed" and deposit_status(booking) == "released"
    assert balances_of(world.carrier).held == 0
    assert AuditEvent.objects.get(action="booking.not_crossed").before == {"status": "arrived"}
    assert queue_services.not_crossed_sweep() == 0
    assert ledger_check().ok
    # The vehicle is free (B6), and no strike was counted: its next no-show is the first (D3).
    again = book(world, start=at(4, 9))
    clock.move_to(at(4, 11))
    assert services.no_shows_sweep() == 1
    again.refresh_from_db()
    assert again.status == "no_show" and deposit_status(again) == "released"


def test_q8_a_called_vehicle_that_never_crossed_is_closed_too(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    clock.move_to(at(3, 0))
    out = io.StringIO()
    call_command("close_not_crossed", stdout=out)
    assert "1 bookings closed as not crossed" in out.getvalue()
    booking.refresh_from_db()
    assert booking.status == "not_crossed"
    assert AuditEvent.objects.get(action="booking.not_crossed").before == {"status": "called"}


def test_q8_the_operators_are_told_for_a_week(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    assert not [n for n in notices.current() if n.code == "bookings_not_crossed"]
    clock.move_to(at(2, 11))
    queue_services.not_crossed_sweep()
    (notice,) = [n for n in notices.current() if n.code == "bookings_not_crossed"]
    assert booking.number in notice.message and notice.permission == "bookings.change_booking"
    clock.move_to(at(2, 11) + dt.timedelta(days=7, minutes=1))
    assert not [n for n in notices.current() if n.code == "bookings_not_crossed"]


def test_q8_a_crossed_or_waiting_vehicle_is_left_alone(world, staff, clock):
    world.top_up("1000000.00")
    crossed = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=crossed, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=crossed, actor=staff)
    clock.move_to(at(5, 0))
    assert queue_services.not_crossed_sweep() == 0
    crossed.refresh_from_db()
    assert crossed.status == "crossed"
