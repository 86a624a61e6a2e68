"""C6 for the bulk writer under real concurrency (PostgreSQL, real threads): while a draw's
winners are being booked in one step (`bookings_create_checked`: one conditional UPDATE per
counter), first-come bookings of the same hour never oversell it. The bulk step is stopped, on
purpose, right after it took its places and before it commits, while the first-come bookings
run. The control takes the condition away (places read, then written back) and shows the
oversell it prevents."""

import threading
import time

import pytest
from django.db import connections, transaction

from bookings.models import Booking
from bookings.services import (
    BookingOrder,
    CheckedRequest,
    booking_create,
    bookings_check,
    bookings_create_checked,
)
from checkpoints import services as slots
from checkpoints.models import HourOverride, SlotCounter
from core.errors import ApplicationError
from deposits.selectors import ledger_check
from tests.worlds import at, book, make_other_world, request
from vehicles.models import Vehicle

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PLACES = 6
WINNERS = 8
FIRST_COME = 6


def _waits_on_a_lock(tries: int = 300) -> bool:
    """Whether another session of this database waits for a lock, asked up to `tries` times
    (a few seconds, within the lock timeout). Asked inside a transaction, whose view of
    pg_stat_activity is a snapshot unless cleared each time."""
    with connections["default"].cursor() as cursor:
        for _ in range(tries):
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.01)
    return False


def fleet(world, prefix: str, count: int) -> list[Vehicle]:
    """`count` more trucks of the world's carrier, copies of its truck."""
    rows = []
    for i in range(count):
        truck = Vehicle.objects.get(pk=world.truck.pk)
        truck.pk = None
        truck.vin = f"XTB21099{prefix}{i:07d}"
        truck.plate = f"{100 + i}{prefix}02"
        rows.append(truck)
    return Vehicle.objects.bulk_create(rows)


@pytest.fixture
def rush(world, fake_twilio, clock):
    """Tomorrow 09:00 with PLACES places, one taken already (so the counter row exists);
    WINNERS trucks of one carrier for the bulk step, FIRST_COME of another booking one each."""
    other = make_other_world(fake_twilio)
    world.top_up("100000000.00")
    other.top_up("100000000.00", reference="TOPUP-OTHER")
    nine = at(1, 9)
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=nine.date(), hour=9, capacity=PLACES
    )
    book(other, start=nine)
    return world, other, nine, fleet(world, "AA", WINNERS), fleet(other, "BB", FIRST_COME)


def _race(rush, take_places) -> tuple[list, list]:
    """The bulk step in one thread, its `_take_places` replaced by `take_places(real, counter,
    places, taken, done)`; the first-come bookings in others, let in once `taken` is set.
    The outcomes of both."""
    world, other, nine, winners, first_come = rush
    taken, done = threading.Event(), threading.Event()
    real = slots._take_places
    bulk_results, single_results, errors = [], [], []
    finished = threading.Semaphore(0)

    def bulk_book():
        try:
            with transaction.atomic():
                items = [(world.member, request(world, vehicle=t, start=nine)) for t in winners]
                orders = [
                    BookingOrder(member=member, request=asked, checked=checked)
                    for (member, asked), checked in zip(items, bookings_check(items), strict=True)
                    if isinstance(checked, CheckedRequest)
                ]
                assert len(orders) == WINNERS
                bulk_results.extend(bookings_create_checked(orders=orders))
        except Exception as exc:
            errors.append(exc)
        finally:
            taken.set()
            connections.close_all()

    def single_book(truck):
        try:
            taken.wait(20)
            single_results.append(
                booking_create(
                    member=other.member, request=request(other, vehicle=truck, start=nine)
                )
            )
        except ApplicationError as exc:
            single_results.append(exc)
        except Exception as exc:
            errors.append(exc)
        finally:
            finished.release()
            connections.close_all()

    def all_done():
        for _ in first_come:
            finished.acquire(timeout=20)
        done.set()

    slots_patch = pytest.MonkeyPatch()
    slots_patch.setattr(
        slots,
        "_take_places",
        lambda counter_id, places: take_places(real, counter_id, places, taken, done),
    )
    threads = [threading.Thread(target=bulk_book)]
    threads += [threading.Thread(target=single_book, args=(t,)) for t in first_come]
    threads += [threading.Thread(target=all_done)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        slots_patch.undo()
    assert not errors, errors
    return bulk_results, single_results


def _booked(results) -> int:
    return sum(1 for r in results if isinstance(r, Booking))


def test_c6_first_come_bookings_during_a_bulk_booking_of_the_same_hour_never_oversell(rush):
    waited = []

    def take_then_let_them_in(real, counter_id, places, taken, done):
        given = real(counter_id, places)  # the conditional UPDATE: the row stays locked
        taken.set()
        waited.append(_waits_on_a_lock())  # the first-come bookings queue on the counter
        return given

    bulk_results, single_results = _race(rush, take_then_let_them_in)
    assert waited == [True]
    # The bulk step took the PLACES - 1 free places; everyone after it found the hour full.
    assert _booked(bulk_results) == PLACES - 1
    assert {r.code for r in bulk_results if not isinstance(r, Booking)} == {"slot_full"}
    assert [r.code for r in single_results] == ["slot_full"] * FIRST_COME
    counter = SlotCounter.objects.get(date=rush[2].date(), hour=9, kind="regular", direction="exit")
    confirmed = Booking.objects.filter(counter=counter, status="confirmed").count()
    assert counter.taken == confirmed == PLACES
    report = ledger_check()
    assert report.ok, report.problems


def test_c6_control_places_read_then_written_back_let_the_rush_oversell(rush):
    def read_then_write(real, counter_id, places, taken, done):
        now_taken, capacity = (
            SlotCounter.objects.filter(pk=counter_id).values_list("taken", "capacity").get()
        )
        taken.set()
        done.wait(20)  # the first-come bookings run between the read and the write
        free = max(0, min(places, capacity - now_taken))
        SlotCounter.objects.filter(pk=counter_id).update(taken=now_taken + free)
        return free

    bulk_results, single_results = _race(rush, read_then_write)
    counter = SlotCounter.objects.get(date=rush[2].date(), hour=9, kind="regular", direction="exit")
    confirmed = Booking.objects.filter(counter=counter, status="confirmed").count()
    assert _booked(bulk_results) + _booked(single_results) + 1 == confirmed > PLACES
    assert counter.taken == PLACES < confirmed  # the counter no longer tells the truth
