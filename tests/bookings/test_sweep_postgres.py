"""Two no-show sweeps at once on PostgreSQL (D3, D6): the periodic job and an operator's
catch-up run (`sweep_no_shows --as-of`) may overlap. Each due booking gets exactly one outcome,
each deposit hold is resolved exactly once, and the ledger stays balanced.

Real threads, each with its own database connection, released together by a barrier.
"""

import datetime as dt
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from core.models import AuditEvent
from deposits.models import HoldResolution
from deposits.selectors import ledger_check, system_balance
from tests.worlds import NOW, at, book, make_world, trucks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DEPOSIT_2026 = Decimal("86500.00")
SWEEPS = 2


def parallel_sweeps(as_of: dt.datetime, sweeps: int = SWEEPS) -> list[int]:
    """Run `sweeps` sweeps at the same moment in threads; each returns how many it swept."""
    barrier = threading.Barrier(sweeps)
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            swept = services.no_shows_sweep(as_of=as_of)
            with lock:
                results.append(swept)
        except BaseException as error:  # reported by the test, not lost in the thread
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(sweeps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_d3_d6_two_sweeps_in_parallel_give_each_booking_one_outcome(fake_twilio, english):
    with time_machine.travel(NOW - dt.timedelta(days=100), tick=False) as clock:
        world = make_world(fake_twilio)
        world.top_up("100000000.00")
        fleet = trucks(world, 16)
        fresh, struck, long_ago = fleet[:10], fleet[10:14], fleet[14:]
        # A cancellation more than 90 days before: it no longer counts (D3).
        for truck in long_ago:
            old = book(world, vehicle=truck, start=at(-99, 9))
            services.booking_cancel(member=world.member, booking=old)

        clock.move_to(NOW)
        # A cancellation a day before the no-show: the no-show is the second strike (D3).
        for truck in struck:
            earlier = book(world, vehicle=truck, start=at(1, 9))
            services.booking_cancel(member=world.member, booking=earlier)
        due = [
            book(world, vehicle=truck, start=at(2, 6 + index)) for index, truck in enumerate(fleet)
        ]
        # Not due: its check-in window is still open when the sweeps run.
        later_truck = trucks_for_later(world)
        not_due = book(world, vehicle=later_truck, start=at(3, 11))

    as_of = at(3, 12)
    results = parallel_sweeps(as_of)

    assert sum(results) == len(due), results
    outcomes = {}
    for booking in due:
        booking.refresh_from_db()
        assert booking.status == "no_show"
        assert booking.status_changed_at == booking.slot_end + dt.timedelta(hours=1)
        outcomes[booking.vehicle_id] = deposit_status(booking)
    assert {outcomes[truck.pk] for truck in fresh + long_ago} == {"released"}
    assert {outcomes[truck.pk] for truck in struck} == {"forfeited"}

    due_holds = [booking.deposit_hold_id for booking in due]
    assert HoldResolution.objects.filter(hold_id__in=due_holds).count() == len(due)
    for booking in due:
        assert (
            AuditEvent.objects.filter(action="booking.no_show", object_id=str(booking.pk)).count()
            == 1
        )
    assert Booking.objects.get(pk=not_due.pk).status == "confirmed"
    assert system_balance("forfeits_payable") == DEPOSIT_2026 * len(struck)
    report = ledger_check()
    assert report.ok, report.problems

    # Sweeping again, in parallel or not, finds nothing more.
    assert parallel_sweeps(as_of) == [0, 0]
    assert services.no_shows_sweep(as_of=as_of) == 0


def trucks_for_later(world):
    from vehicles import services as fleet

    return fleet.vehicle_register(
        member=world.member,
        plate="555LTR02",
        vin="XTA21099055555555",
        kind="truck",
        registration_country="KZ",
    )


def test_d3_one_vehicles_two_no_shows_in_two_countries_swept_in_parallel(
    fake_twilio, english, monkeypatch
):
    """The same truck missed a slot in Kyrgyzstan (deadline 11:00) and one in China (14:00): by
    D3 the first is forgiven and the second — with the first in the 90 days before it —
    forfeits the deposit, whichever sweep takes which booking. The interleaving is made
    certain: the sweep that took the Kyrgyz booking waits (at most 3 s) until the Chinese one
    has been judged."""
    with time_machine.travel(NOW, tick=False):
        world = make_world(fake_twilio)
        world.top_up("100000000.00")
        alone, raced = trucks(world, 2)
        # The control: one sweep alone judges them in order.
        first = book(world, vehicle=alone, checkpoint="KORDAI", start=at(2, 9))
        second = book(world, vehicle=alone, checkpoint="DOSTYK", start=at(2, 12))
    services.no_shows_sweep(as_of=at(3, 0))
    assert [deposit_status(Booking.objects.get(pk=b.pk)) for b in (first, second)] == [
        "released",
        "forfeited",
    ]

    with time_machine.travel(NOW, tick=False):
        kordai = book(world, vehicle=raced, checkpoint="KORDAI", start=at(2, 9))
        dostyk = book(world, vehicle=raced, checkpoint="DOSTYK", start=at(2, 12))
    judged = threading.Event()
    settle = services.deposit_settle_after_strike

    def settle_in_the_racy_order(booking, *, moment, actor):
        if booking.pk == kordai.pk:
            judged.wait(timeout=3)
        outcome = settle(booking, moment=moment, actor=actor)
        if booking.pk == dostyk.pk:
            judged.set()
        return outcome

    monkeypatch.setattr(services, "deposit_settle_after_strike", settle_in_the_racy_order)
    parallel_sweeps(at(3, 0))
    assert ledger_check().ok
    assert [deposit_status(Booking.objects.get(pk=b.pk)) for b in (kordai, dostyk)] == [
        "released",
        "forfeited",
    ]
