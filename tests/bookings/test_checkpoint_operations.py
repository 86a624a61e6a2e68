"""At the checkpoint: arrival window (Q1), call order (Q2, Q3), crossing (D2), no-shows
(D3, D6), closures (C3, D4), staff scope (A5)."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from bookings import services
from bookings.models import Booking
from bookings.selectors import deposit_status
from checkpoint_queue import services as queue_services
from checkpoints.models import Checkpoint, Closure
from core.models import AuditEvent
from deposits.selectors import balances_of, ledger_check, system_balance
from tests.worlds import at, book, refused, trucks

pytestmark = pytest.mark.django_db

DEPOSIT = Decimal("86500.00")


def test_q1_check_in_from_3_hours_before_until_1_hour_after(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 5) + dt.timedelta(minutes=59))
    refusal = refused(
        lambda: queue_services.booking_mark_arrived(booking=booking, actor=staff),
        "outside_check_in_window",
    )
    assert "06:00" in str(refusal.message) and "11:00" in str(refusal.message)
    clock.move_to(at(1, 6))
    assert queue_services.booking_mark_arrived(booking=booking, actor=staff).status == "arrived"
    # Marking it again is harmless.
    assert queue_services.booking_mark_arrived(booking=booking, actor=staff).status == "arrived"


def test_q1_check_in_after_the_window_is_refused(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 11))
    refused(
        lambda: queue_services.booking_mark_arrived(booking=booking, actor=staff),
        "outside_check_in_window",
    )


def test_q2_call_order_across_services_slots_and_booking_times(world, staff, clock):
    world.top_up("100000000.00")
    regular_late_slot, regular_early_booked, regular_late_booked, fast, priority = trucks(world, 5)
    b_regular_10 = book(world, vehicle=regular_late_slot, start=at(1, 10))
    b_regular_9_first = book(world, vehicle=regular_early_booked, start=at(1, 9))
    clock.shift(dt.timedelta(minutes=5))
    b_regular_9_second = book(world, vehicle=regular_late_booked, start=at(1, 9))
    b_accelerated = book(world, vehicle=fast, start=at(1, 10), service="accelerated")
    b_out_of_turn = book(
        world,
        vehicle=priority,
        start=at(1, 10),
        service="out_of_turn",
        cargo_category="perishable",
        document_number="D-1",
    )
    clock.move_to(at(1, 8))
    for booking in (
        b_regular_10,
        b_regular_9_second,
        b_accelerated,
        b_regular_9_first,
        b_out_of_turn,
    ):
        queue_services.booking_mark_arrived(booking=booking, actor=staff)
    clock.move_to(at(1, 10))
    order = [
        queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)[
            0
        ]
        for _ in range(5)
    ]
    assert [b.pk for b in order] == [
        b_out_of_turn.pk,
        b_accelerated.pk,
        b_regular_9_first.pk,
        b_regular_9_second.pk,
        b_regular_10.pk,
    ]
    refused(
        lambda: queue_services.queue_call_next(
            checkpoint=world.checkpoint, direction="exit", actor=staff
        ),
        "queue_empty",
    )


def test_q1_a_vehicle_is_not_called_before_its_time(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 7))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    refused(
        lambda: queue_services.queue_call_next(
            checkpoint=world.checkpoint, direction="exit", actor=staff
        ),
        "queue_empty",
    )
    clock.move_to(at(1, 9))
    assert (
        queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)[
            0
        ].pk
        == booking.pk
    )


def test_q3_every_call_and_crossing_records_who_did_it(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=booking, actor=staff)
    booking.refresh_from_db()
    assert "officer@kordai.kz" in booking.called_by and "officer@kordai.kz" in booking.crossed_by
    actions = list(
        AuditEvent.objects.filter(object_id=str(booking.pk), actor=staff)
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["booking.arrived", "booking.called", "booking.crossed"]


def test_d2_crossing_releases_the_deposit_at_once(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, start=at(1, 9))
    assert balances_of(world.carrier).held == DEPOSIT
    clock.move_to(at(1, 9))
    queue_services.booking_mark_arrived(booking=booking, actor=staff)
    refused(
        lambda: queue_services.booking_mark_crossed(booking=booking, actor=staff), "not_changeable"
    )
    queue_services.queue_call_next(checkpoint=world.checkpoint, direction="exit", actor=staff)
    queue_services.booking_mark_crossed(booking=booking, actor=staff)
    booking.refresh_from_db()
    assert booking.status == "crossed" and deposit_status(booking) == "released"
    assert balances_of(world.carrier).held == 0
    assert ledger_check().ok


def test_a5_staff_act_only_at_their_checkpoints(world, staff, clock):
    world.top_up("1000000.00")
    booking = book(world, checkpoint="KARASU", start=at(1, 9))
    clock.move_to(at(1, 8))
    refused(lambda: queue_services.booking_mark_arrived(booking=booking, actor=staff), "forbidden")
    refused(
        lambda: queue_services.queue_call_next(
            checkpoint=Checkpoint.objects.get(code="KARASU"), direction="exit", actor=staff
        ),
        "forbidden",
    )


def test_d6_d3_no_show_sweep_forgives_the_first_and_forfeits_the_second(world, clock):
    world.top_up("1000000.00")
    first = book(world, start=at(1, 9))
    clock.move_to(at(1, 10) + dt.timedelta(minutes=59))
    assert services.no_shows_sweep() == 0
    clock.move_to(at(1, 11))
    assert services.no_shows_sweep() == 1
    first.refresh_from_db()
    assert first.status == "no_show" and deposit_status(first) == "released"
    second = book(world, start=at(5, 9))
    clock.move_to(at(6, 0))
    assert services.no_shows_sweep() == 1
    second.refresh_from_db()
    assert deposit_status(second) == "forfeited"
    assert system_balance("forfeits_payable") == DEPOSIT
    assert services.no_shows_sweep() == 0


def test_d3_no_show_with_as_of_across_the_90_day_boundary(world, clock):
    world.top_up("1000000.00")
    first = book(world, start=at(1, 9))
    clock.move_to(at(1, 12))
    call_command("sweep_no_shows", as_of=at(1, 11).isoformat())
    first.refresh_from_db()
    assert first.status == "no_show"
    # A no-show exactly 90 days and one hour after the first one's deadline: forgiven again.
    clock.move_to(at(90, 12))
    later = book(world, start=at(91, 10))
    clock.move_to(at(91, 12))
    call_command("sweep_no_shows", as_of=at(91, 12).isoformat())
    later.refresh_from_db()
    assert later.status == "no_show" and deposit_status(later) == "released"


def test_c3_d4_a_closure_cancels_bookings_refunds_fees_releases_deposits_no_strike(world, clock):
    world.top_up("1000000.00")
    inside = book(world, start=at(2, 9))
    available_before = balances_of(world.carrier).available
    closure = Closure.objects.create(
        checkpoint=world.checkpoint,
        direction="",
        starts_at=at(2, 0),
        ends_at=at(3, 0),
        reason="Road works",
    )
    cancelled = services.closure_apply(closure=closure, actor=None)
    assert [b.pk for b in cancelled] == [inside.pk]
    inside.refresh_from_db()
    assert inside.status == "cancelled_by_operator"
    assert deposit_status(inside) == "released"
    assert balances_of(world.carrier).available == available_before + Decimal("4325.00") + DEPOSIT
    # No strike: a cancellation right after is the first in 90 days, so it is forgiven.
    again = book(world, start=at(4, 9))
    services.booking_cancel(member=world.member, booking=again)
    again.refresh_from_db()
    assert deposit_status(again) == "released"
    assert ledger_check().ok


def test_c3_a_closure_leaves_bookings_outside_it_and_of_the_other_direction(world, clock):
    world.top_up("10000000.00")
    other_truck, entry_truck = trucks(world, 2)
    outside = book(world, start=at(3, 9))
    entry = services.booking_create(
        member=world.member,
        request=services.BookingRequest(
            checkpoint_code="KORDAI",
            direction="entry",
            service="regular",
            slot_start=at(2, 9),
            vehicle_id=entry_truck.pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
        ),
    )
    closure = Closure.objects.create(
        checkpoint=world.checkpoint,
        direction="exit",
        starts_at=at(2, 0),
        ends_at=at(3, 0),
        reason="Works",
    )
    assert services.closure_apply(closure=closure, actor=None) == []
    assert Booking.objects.get(pk=outside.pk).status == "confirmed"
    assert Booking.objects.get(pk=entry.pk).status == "confirmed"
    assert other_truck.pk
