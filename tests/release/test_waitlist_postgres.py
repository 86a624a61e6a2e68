"""F7 on PostgreSQL with real threads: a carrier cancels the booking it won in the draw while
another carrier's clients keep trying to book that hour first-come (cancel-sniping). The freed
place goes to the best-ranked waiting request; the snipers never get it. The control takes the
waitlist's claim away and shows the race it closes: a sniper books the freed place."""

import threading
import time

import pytest
from django.db import connections

from bookings import services as bookings
from bookings.models import Booking
from checkpoints.services import register_places_freed, unregister_places_freed
from core.errors import ApplicationError
from release.models import ReleaseRequest
from release.tasks import places_freed
from tests.release.helpers import DAY, place
from tests.release.test_release_rules import drawn
from tests.release.test_release_waitlist import by_rank, day_start
from tests.worlds import book, make_other_world, trucks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SNIPERS = 3


def cancel_while_sniping(world, other, booking) -> list[Booking]:
    """Cancel `booking` in one thread while SNIPERS threads try to book its hour for `other`
    until a moment after the cancellation (and the waitlist's offer) has committed."""
    done = threading.Event()
    start = threading.Barrier(SNIPERS + 1)
    sniped, errors = [], []

    def snipe():
        try:
            start.wait()
            while True:
                finished = done.is_set()
                try:
                    sniped.append(book(other, start=day_start(9)))
                    return
                except ApplicationError as exc:
                    if exc.code not in ("slot_full", "active_booking_exists"):
                        raise
                if finished:
                    return
                time.sleep(0.002)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def cancel():
        try:
            start.wait()
            time.sleep(0.05)
            bookings.booking_cancel(member=world.member, booking=booking)
            time.sleep(0.2)
        except Exception as exc:
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    threads = [threading.Thread(target=snipe) for _ in range(SNIPERS)]
    threads.append(threading.Thread(target=cancel))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return sniped


@pytest.fixture
def drawn_with_waitlist(world, draw_window, clock, fake_twilio):
    window = draw_window()
    world.top_up("100000000.00")
    requests = [place(world, vehicle=truck, hours=(9,)) for truck in trucks(world, 3)]
    drawn(clock, window)
    winner, second, _third = by_rank(requests)
    other = make_other_world(fake_twilio)
    other.top_up("100000000.00", reference="TOPUP-OTHER")
    return winner, second, other


def test_f7_a_cancelled_place_goes_to_the_waitlist_not_to_snipers(
    world, drawn_with_waitlist, eager
):
    winner, second, other = drawn_with_waitlist
    sniped = cancel_while_sniping(world, other, winner.booking)
    assert sniped == []
    second.refresh_from_db()
    assert second.status == ReleaseRequest.Status.WAITLIST_WON
    at_nine = Booking.objects.filter(slot_start=day_start(9), status="confirmed")
    assert list(at_nine.values_list("pk", flat=True)) == [second.booking_id]
    assert second.booking.slot_start.date() == DAY


def test_f7_control_without_the_claim_a_sniper_takes_the_freed_place(
    world, drawn_with_waitlist, eager
):
    winner, second, other = drawn_with_waitlist
    unregister_places_freed("release windows")
    try:
        sniped = cancel_while_sniping(world, other, winner.booking)
    finally:
        register_places_freed("release windows", places_freed)
    assert len(sniped) == 1 and sniped[0].carrier_id == other.carrier.pk
    second.refresh_from_db()
    assert second.status == ReleaseRequest.Status.UNSUCCESSFUL
