"""Slot holds (C5) that nobody can use to keep places away from others (issue 17, item 5).

A hold needs the money the booking would take (B8), a person keeps one hold at a time, and
choosing the held hour again never makes a hold last past 15 minutes from when it was taken.
The world (tests/worlds.py): Friday 2026-03-20 10:00 in Almaty, KORDAI, 1 MRP = 4 325 ₸.
"""

import datetime as dt
from decimal import Decimal

import pytest

from bookings import services
from bookings.models import Booking, SlotHold
from checkpoints.models import HourOverride, SlotCounter
from deposits.selectors import balances_of
from tests.worlds import NOW, at, book, make_other_world, refused, request

pytestmark = pytest.mark.django_db

REGULAR_2026 = Decimal("90825.00")  # fee 1 MRP + deposit 20 MRP at 4 325 ₸
ACCELERATED_2026 = Decimal("519000.00")  # fee 100 MRP + deposit 20 MRP


def hold(world, *, start=None, service="regular", checkpoint="KORDAI") -> SlotHold:
    return services.slot_hold_create(
        member=world.member,
        checkpoint_code=checkpoint,
        direction="exit",
        service=service,
        slot_start=start or at(1, 9),
    )


def taken(start, kind="regular", checkpoint="KORDAI") -> int:
    """Places taken of the hour at `start` (regular) or of its day's quota (C2)."""
    counter = SlotCounter.objects.filter(
        checkpoint__code=checkpoint,
        direction="exit",
        date=start.date(),
        hour=start.hour if kind == "regular" else -1,
        kind=kind,
    ).first()
    return counter.taken if counter is not None else 0


def test_c5_a_hold_needs_the_money_a_booking_would_need(world):
    # Nothing on the account: refused as the booking would be, and no place is taken.
    refusal = refused(lambda: hold(world), "insufficient_funds")
    assert refusal.status == 409
    assert refusal.fields == {"required": str(REGULAR_2026), "available": "0.00"}
    assert refusal.message == (
        "Not enough money on the personal account: 90\u202f825.00 ₸ more is needed."
    )
    assert refusal.fields == refused(lambda: book(world), "insufficient_funds").fields
    assert not SlotHold.objects.exists() and taken(at(1, 9)) == 0

    # One tiyn short is short; the exact amount holds, and the hold moves no money.
    world.top_up(str(REGULAR_2026 - Decimal("0.01")))
    assert refused(lambda: hold(world), "insufficient_funds").fields["available"] == "90824.99"
    assert not SlotHold.objects.exists() and taken(at(1, 9)) == 0
    world.top_up("0.01", reference="TIYN")
    held = hold(world)
    assert (held.slot_start, taken(at(1, 9))) == (at(1, 9), 1)
    assert balances_of(world.carrier).available == REGULAR_2026
    assert balances_of(world.carrier).held == Decimal("0.00")

    # The money of the service chosen: accelerated passage costs 100 MRP, and a refused
    # choice leaves the hold the person has.
    refusal = refused(
        lambda: hold(world, start=at(1, 12), service="accelerated"), "insufficient_funds"
    )
    assert refusal.fields["required"] == str(ACCELERATED_2026)
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [held.pk]
    assert taken(at(1, 12), kind="accelerated") == 0

    # The booking made with the hold charges exactly what the hold asked to have.
    booking = services.booking_create(member=world.member, request=request(world), hold=held)
    assert booking.fee_amount + booking.deposit_hold.amount == REGULAR_2026
    assert balances_of(world.carrier).available == Decimal("0.00")


def test_c5_renewing_a_hold_does_not_extend_it_past_15_minutes_from_the_first(world, clock):
    world.top_up("1000000.00")
    first = hold(world)
    assert first.expires_at == NOW + dt.timedelta(minutes=15)

    # The person chooses the same hour again after 14 minutes: the same hold, the same end.
    clock.shift(dt.timedelta(minutes=14))
    again = hold(world)
    assert again.pk == first.pk and again.expires_at == NOW + dt.timedelta(minutes=15)
    assert SlotHold.objects.get().expires_at == NOW + dt.timedelta(minutes=15)
    assert taken(at(1, 9)) == 1
    assert services.slot_holds_expire() == 0

    # 15 minutes after the first hold the place is freed, renewed or not …
    clock.shift(dt.timedelta(minutes=1))
    assert services.slot_holds_expire() == 1
    assert not SlotHold.objects.exists() and taken(at(1, 9)) == 0
    refused(
        lambda: services.booking_create(member=world.member, request=request(world), hold=again),
        "hold_expired",
    )
    assert not Booking.objects.exists()


def test_c5_after_its_15_minutes_a_held_place_is_taken_again_like_anyone_elses(
    world, clock, fake_twilio
):
    """The attack of issue 17: the only place of an hour, held over and over by one carrier."""
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=at(1, 9).date(), hour=9, capacity=1
    )
    other = make_other_world(fake_twilio)
    world.top_up("1000000.00")
    other.top_up("1000000.00", reference="OTHER")
    hold(world)
    for _renewal in range(3):  # every 14 minutes … but never past 10:15
        clock.shift(dt.timedelta(minutes=14) if _renewal == 0 else dt.timedelta(seconds=20))
        hold(world)
        refused(lambda: hold(other), "slot_full")
    clock.move_to(NOW + dt.timedelta(minutes=15))
    services.slot_holds_expire()
    theirs = hold(other)  # the funded carrier gets the place
    assert theirs.created_by == other.member.user and taken(at(1, 9)) == 1
    refused(lambda: hold(world), "slot_full")  # and the first one has to wait like anyone
    assert list(SlotHold.objects.values_list("created_by", flat=True)) == [other.member.user.pk]


def test_c5_a_person_keeps_one_live_hold(world, clock):
    """Choosing another hour frees the hour held before (what a person going back to the hours
    means to do); a refused choice leaves it held. Under real concurrency: the PostgreSQL test
    `test_c5_a_person_keeps_one_live_hold_when_two_hours_are_chosen_at_once`."""
    world.top_up("1000000.00")
    nine = hold(world, start=at(1, 9))
    clock.shift(dt.timedelta(minutes=5))
    ten = hold(world, start=at(1, 10))
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [ten.pk]
    assert (taken(at(1, 9)), taken(at(1, 10))) == (0, 1)
    assert ten.expires_at == NOW + dt.timedelta(minutes=20)  # its own 15 minutes

    # Another service, another checkpoint: still one hold.
    quota = hold(world, start=at(1, 10), service="out_of_turn")
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [quota.pk]
    assert (taken(at(1, 10)), taken(at(1, 10), kind="out_of_turn")) == (0, 1)
    karasu = hold(world, start=at(2, 9), checkpoint="KARASU")
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [karasu.pk]
    assert taken(at(1, 10), kind="out_of_turn") == 0
    assert taken(at(2, 9), checkpoint="KARASU") == 1

    # A refused choice (the hour is full) keeps the hold the person has.
    HourOverride.objects.create(
        checkpoint=world.checkpoint, direction="exit", date=at(1, 9).date(), hour=11, capacity=0
    )
    refused(lambda: hold(world, start=at(1, 11)), "slot_full")
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [karasu.pk]
    # Going back to an hour freed before is a new hold with 15 minutes of its own.
    back = hold(world, start=at(1, 9))
    assert back.pk != nine.pk and back.expires_at == NOW + dt.timedelta(minutes=20)
    assert list(SlotHold.objects.values_list("pk", flat=True)) == [back.pk]
    assert taken(at(2, 9), checkpoint="KARASU") == 0 and taken(at(1, 9)) == 1
