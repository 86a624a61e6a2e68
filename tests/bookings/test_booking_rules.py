import datetime as dt
from decimal import Decimal

import pytest

from bookings import services
from bookings.models import Booking, SlotHold
from bookings.selectors import cancellation_consequence, deposit_status
from checkpoints.models import Closure, SlotCounter
from core.errors import ApplicationError
from deposits.models import Transfer
from deposits.selectors import balances_of, ledger_check, system_balance
from tests.worlds import at, book, make_other_world, refused, request, trucks

pytestmark = pytest.mark.django_db

FEE_2026 = Decimal("4325.00")  # 1 MRP in 2026
DEPOSIT_2026 = Decimal("86500.00")  # 20 MRP
HUNDRED_MRP_2026 = Decimal("432500.00")


def test_b8_booking_charges_the_fee_and_holds_the_deposit(world):
    world.top_up("100000.00")
    booking = book(world, trailer=world.trailer, drivers=world.drivers[:2])
    assert booking.status == "confirmed"
    assert (booking.fee_mrp, booking.fee_mrp_value, booking.fee_amount) == (
        1,
        Decimal("4325.00"),
        FEE_2026,
    )
    balances = balances_of(world.carrier)
    assert balances.available == Decimal("100000.00") - FEE_2026 - DEPOSIT_2026
    assert balances.held == DEPOSIT_2026
    assert system_balance("fees_payable") == FEE_2026
    assert deposit_status(booking) == "held"
    assert SlotCounter.objects.get(pk=booking.counter_id).taken == 1
    assert ledger_check().ok


def test_b8_short_balance_refuses_with_the_amount_missing_and_takes_nothing(world):
    world.top_up("50000.00")
    refusal = refused(lambda: book(world), "insufficient_funds")
    assert refusal.fields == {
        "required": str(FEE_2026 + DEPOSIT_2026),
        "available": "50000.00",
    }
    assert not Booking.objects.exists()
    assert not SlotCounter.objects.filter(taken__gt=0).exists()
    assert balances_of(world.carrier).available == Decimal("50000.00")


def test_r2_fees_are_taken_at_the_mrp_of_the_booking_date(world, clock):
    world.top_up("200000.00")
    clock.move_to(dt.datetime(2025, 12, 31, 12, tzinfo=dt.UTC))
    booking = book(world, start=dt.datetime(2026, 1, 2, 9, tzinfo=dt.UTC))
    assert booking.fee_mrp_value == Decimal("3932.00")
    assert booking.deposit_hold.amount == Decimal("78640.00")


def test_b2_out_of_turn_needs_a_category_and_a_document(world):
    world.top_up("1000000.00")
    refusal = refused(lambda: book(world, service="out_of_turn"), "validation_error")
    assert {"cargo_category", "document_number"} <= set(refusal.fields)
    booking = book(
        world, service="out_of_turn", cargo_category="perishable", document_number="TD-2026-77"
    )
    assert booking.fee_amount == HUNDRED_MRP_2026
    assert booking.cargo_category == "perishable"


def test_c2_priority_bookings_take_the_days_quota_not_the_hour(world):
    world.top_up("2000000.00")
    booking = book(world, service="accelerated")
    counter = SlotCounter.objects.get(pk=booking.counter_id)
    assert (counter.kind, counter.hour) == ("accelerated", SlotCounter.DAY)
    assert counter.capacity == 4  # 1 % of Kordai's 400 a day


def test_b6_one_active_booking_per_vehicle_per_country(world):
    world.top_up("1000000.00")
    book(world)
    refusal = refused(lambda: book(world, start=at(2, 9)), "active_booking_exists")
    assert "vehicle" in refusal.fields
    # Another country is fine (Nur Zholy is on the Chinese border).
    assert book(world, checkpoint="NUR-ZHOLY", start=at(2, 9)).country_id == "CN"


def test_b6_the_trailer_obeys_the_same_rule(world):
    world.top_up("1000000.00")
    book(world, trailer=world.trailer)
    refusal = refused(
        lambda: book(world, vehicle=world.tractor, trailer=world.trailer, start=at(2, 9)),
        "active_booking_exists",
    )
    assert "trailer" in refusal.fields


def test_b6_the_same_vin_under_another_carrier_is_still_one_vehicle(world, fake_twilio):
    world.top_up("1000000.00")
    book(world)
    other = make_other_world(
        fake_twilio, vins=(world.truck.vin, "XTA21099012345670", "WDB96340310123450")
    )
    other.top_up("1000000.00", reference="OTHER")
    refused(lambda: book(other, start=at(3, 9)), "active_booking_exists")


def test_b6_a_cancelled_booking_frees_the_vehicle(world):
    world.top_up("1000000.00")
    first = book(world)
    services.booking_cancel(member=world.member, booking=first)
    assert book(world, start=at(2, 9)).status == "confirmed"


@pytest.mark.parametrize("start", [at(0, 10), at(30, 11), at(31, 9)])
def test_c4_slots_only_from_an_hour_to_30_days_ahead(world, start):
    world.top_up("1000000.00")
    refused(lambda: book(world, start=start), "outside_booking_window")


def test_c3_no_booking_in_a_closure(world):
    world.top_up("1000000.00")
    Closure.objects.create(
        checkpoint=world.checkpoint,
        direction="",
        starts_at=at(1, 0),
        ends_at=at(2, 0),
        reason="works",
        created_at=at(0, 9),
    )
    refused(lambda: book(world), "checkpoint_closed")


def test_c6_a_full_slot_is_refused(world, fake_twilio):
    world.top_up("10000000.00")
    counter_capacity = None
    for truck in trucks(world, 30):
        try:
            booking = book(world, vehicle=truck)
        except ApplicationError as refusal:
            assert refusal.code == "slot_full"
            break
        counter_capacity = SlotCounter.objects.get(pk=booking.counter_id).capacity
    counter = SlotCounter.objects.get(checkpoint=world.checkpoint, hour=9, kind="regular")
    assert counter.taken == counter.capacity == counter_capacity
    assert Booking.objects.count() == counter.capacity


@pytest.mark.parametrize("count", [0, 4])
def test_b1_one_to_three_drivers(world, count):
    world.top_up("1000000.00")
    refusal = refused(
        lambda: book(world, drivers=world.drivers[:count]),
        "validation_error" if count == 0 else "driver_limit",
    )
    assert "drivers" in refusal.fields


def test_b1_only_own_active_vehicles_and_drivers(world, fake_twilio):
    world.top_up("1000000.00")
    other = make_other_world(fake_twilio)
    refused(lambda: book(world, vehicle=other.truck), "validation_error")
    refused(lambda: book(world, drivers=other.drivers[:1]), "validation_error")
    refused(lambda: book(world, vehicle=world.trailer), "validation_error")
    # The vehicle and the trailer are read together and each checked as before, vehicle first.
    for vehicle, trailer, field in (
        (world.trailer, world.trailer, "vehicle"),
        (world.trailer, other.trailer, "vehicle"),
        (other.truck, world.trailer, "vehicle"),
        (world.truck, world.tractor, "trailer"),
        (world.truck, world.truck, "trailer"),
        (world.truck, other.trailer, "trailer"),
    ):
        refusal = refused(
            lambda v=vehicle, t=trailer: book(world, vehicle=v, trailer=t), "validation_error"
        )
        assert set(refusal.fields) == {field}, (vehicle, trailer, refusal.fields)
    world.trailer.is_active = False
    world.trailer.save(update_fields=["is_active"])
    refusal = refused(lambda: book(world, trailer=world.trailer), "validation_error")
    assert set(refusal.fields) == {"trailer"}


def test_b4_drivers_are_added_up_to_three(world):
    world.top_up("1000000.00")
    booking = book(world)
    services.booking_add_drivers(
        member=world.member, booking=booking, driver_ids=[world.drivers[1].pk]
    )
    services.booking_add_drivers(
        member=world.member, booking=booking, driver_ids=[world.drivers[2].pk]
    )
    assert booking.driver_links.count() == 3
    refused(
        lambda: services.booking_add_drivers(
            member=world.member, booking=booking, driver_ids=[world.drivers[3].pk]
        ),
        "driver_limit",
    )


def test_b5_reschedule_charges_100_mrp_moves_the_place_and_keeps_the_deposit(world):
    world.top_up("1000000.00")
    booking = book(world)
    old_counter, hold = booking.counter_id, booking.deposit_hold_id
    moved = services.booking_reschedule(member=world.member, booking=booking, slot_start=at(2, 14))
    assert moved.slot_start == at(2, 14)
    assert moved.deposit_hold_id == hold
    assert SlotCounter.objects.get(pk=old_counter).taken == 0
    assert SlotCounter.objects.get(pk=moved.counter_id).taken == 1
    fees = Transfer.objects.filter(carrier=world.carrier, kind="rebooking_fee")
    assert [f.amount for f in fees] == [HUNDRED_MRP_2026]
    assert ledger_check().ok


def test_b5_reschedule_needs_money_for_the_fee_and_changes_nothing_without_it(world):
    world.top_up(str(FEE_2026 + DEPOSIT_2026))
    booking = book(world)
    refused(
        lambda: services.booking_reschedule(
            member=world.member, booking=booking, slot_start=at(2, 14)
        ),
        "insufficient_funds",
    )
    booking.refresh_from_db()
    assert booking.slot_start == at(1, 9)
    assert SlotCounter.objects.get(pk=booking.counter_id).taken == 1
    assert SlotCounter.objects.filter(taken__gt=0).count() == 1


def test_b5_b9_no_change_once_the_slot_started(world, clock):
    world.top_up("1000000.00")
    booking = book(world)
    clock.move_to(at(1, 9))
    refused(lambda: services.booking_cancel(member=world.member, booking=booking), "not_changeable")
    refused(
        lambda: services.booking_reschedule(
            member=world.member, booking=booking, slot_start=at(2, 9)
        ),
        "not_changeable",
    )


def test_b9_cancel_frees_the_place_keeps_the_fee(world):
    world.top_up("1000000.00")
    booking = book(world)
    services.booking_cancel(member=world.member, booking=booking)
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert SlotCounter.objects.get(pk=booking.counter_id).taken == 0
    assert system_balance("fees_payable") == FEE_2026


def test_d3_first_cancellation_in_90_days_is_forgiven(world):
    world.top_up("1000000.00")
    booking = book(world)
    assert cancellation_consequence(booking=booking) == "released"
    services.booking_cancel(member=world.member, booking=booking)
    booking.refresh_from_db()
    assert deposit_status(booking) == "released"
    assert balances_of(world.carrier).held == 0


def test_d3_second_cancellation_in_90_days_forfeits_the_deposit(world, clock):
    world.top_up("1000000.00")
    services.booking_cancel(member=world.member, booking=book(world))
    clock.shift(dt.timedelta(days=89))
    second = book(world, start=at(91, 9))
    assert cancellation_consequence(booking=second) == "forfeited"
    services.booking_cancel(member=world.member, booking=second)
    second.refresh_from_db()
    assert deposit_status(second) == "forfeited"
    assert system_balance("forfeits_payable") == DEPOSIT_2026
    assert ledger_check().ok


def test_d3_a_cancellation_after_90_days_is_forgiven_again(world, clock):
    world.top_up("1000000.00")
    services.booking_cancel(member=world.member, booking=book(world))
    clock.shift(dt.timedelta(days=90, seconds=1))
    third = book(world, start=at(92, 9))
    services.booking_cancel(member=world.member, booking=third)
    third.refresh_from_db()
    assert deposit_status(third) == "released"


def test_c5_a_hold_takes_the_place_and_becomes_the_booking(world, clock):
    world.top_up("1000000.00")
    hold = services.slot_hold_create(
        member=world.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(1, 9),
    )
    assert SlotCounter.objects.get(pk=hold.counter_id).taken == 1
    booking = services.booking_create(member=world.member, request=request(world), hold=hold)
    assert booking.counter_id == hold.counter_id
    assert SlotCounter.objects.get(pk=hold.counter_id).taken == 1
    assert not SlotHold.objects.exists()


def test_c5_a_hold_lapses_after_15_minutes(world, clock):
    world.top_up("1000000.00")
    hold = services.slot_hold_create(
        member=world.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(1, 9),
    )
    clock.shift(dt.timedelta(minutes=14))
    assert services.slot_holds_expire() == 0
    clock.shift(dt.timedelta(minutes=1))
    assert services.slot_holds_expire() == 1
    assert services.slot_holds_expire() == 0
    assert SlotCounter.objects.get(pk=hold.counter_id).taken == 0
    refused(
        lambda: services.booking_create(member=world.member, request=request(world), hold=hold),
        "hold_expired",
    )


def test_a5_an_accountant_cannot_book(world):
    from carriers.models import Member

    Member.objects.filter(pk=world.member.pk).update(role="accountant")
    world.member.refresh_from_db()
    refused(lambda: book(world), "forbidden")


def test_b11_booking_numbers_carry_a_check_digit(world):
    from bookings.models import booking_number, booking_pk_from_number

    world.top_up("1000000.00")
    booking = book(world)
    assert booking_pk_from_number(booking.number) == booking.pk
    assert booking_number(1234) == "K-0001234-" + booking_number(1234)[-1]
    wrong = booking.number[:-1] + str((int(booking.number[-1]) + 1) % 10)
    assert booking_pk_from_number(wrong) is None


@pytest.mark.parametrize("start", [at(0, 11), at(30, 10)])
def test_c4_the_window_edges_are_bookable(world, start):
    world.top_up("1000000.00")
    assert book(world, start=start).slot_start == start


def test_c6_verify_capacity_counts_bookings_and_holds(world):
    from django.core.management import call_command

    world.top_up("1000000.00")
    book(world)
    services.slot_hold_create(
        member=world.member,
        checkpoint_code="KORDAI",
        direction="exit",
        service="regular",
        slot_start=at(1, 10),
    )
    call_command("verify_capacity")
    SlotCounter.objects.filter(hour=9).update(taken=2)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("verify_capacity")


def test_r1_b1_only_a_bookable_checkpoint_takes_a_booking(world):
    from checkpoints.models import Checkpoint

    world.top_up("100000.00")
    Checkpoint.objects.filter(code="DOSTYK").update(is_active=False)
    Checkpoint.objects.filter(code="KARASU").update(serves_trucks=False)
    for code in ("DOSTYK", "KARASU", "kordai", "NOWHERE", ""):
        refused(lambda code=code: book(world, checkpoint=code), "not_found")
    assert book(world, checkpoint="KORDAI").checkpoint.code == "KORDAI"
    # The booking form's hold (C5) follows the same rule.
    for code in ("DOSTYK", "KARASU"):
        refused(
            lambda code=code: services.slot_hold_create(
                member=world.member,
                checkpoint_code=code,
                direction="exit",
                service="regular",
                slot_start=at(2, 9),
            ),
            "not_found",
        )


def test_b1_a_booking_reads_only_the_carriers_active_vehicles_and_drivers(world, fake_twilio):
    # The reads of `booking_request_check` against plain queries of what they must find.
    from vehicles.models import Driver, Vehicle
    from vehicles.selectors import active_drivers_among, active_vehicles_by_id

    other = make_other_world(fake_twilio)
    world.tractor.is_active = False
    world.tractor.save(update_fields=["is_active"])
    world.drivers[3].is_active = False
    world.drivers[3].save(update_fields=["is_active"])
    vehicles = [world.truck, world.tractor, world.trailer, other.truck, other.trailer]
    drivers = [*world.drivers, *other.drivers]
    for ids in ([], [v.pk for v in vehicles], [world.trailer.pk, other.truck.pk], [999999]):
        expected = Vehicle.objects.filter(pk__in=ids, carrier=world.carrier, is_active=True)
        read = active_vehicles_by_id(world.carrier, ids)
        assert read == {vehicle.pk: vehicle for vehicle in expected}
        fields = [field.attname for field in Vehicle._meta.concrete_fields]
        for vehicle in expected:
            assert [getattr(read[vehicle.pk], f) for f in fields] == [
                getattr(vehicle, f) for f in fields
            ]
    for ids in ([], [d.pk for d in drivers], [world.drivers[3].pk, other.drivers[0].pk]):
        expected = Driver.objects.filter(pk__in=ids, carrier=world.carrier, is_active=True)
        read = active_drivers_among(world.carrier, ids)
        assert sorted(d.pk for d in read) == sorted(d.pk for d in expected)
        fields = [field.attname for field in Driver._meta.concrete_fields]
        by_pk = {d.pk: d for d in read}
        for driver in expected:
            assert [getattr(by_pk[driver.pk], f) for f in fields] == [
                getattr(driver, f) for f in fields
            ]
