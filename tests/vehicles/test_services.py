"""Registering and deactivating vehicles and drivers: roles, duplicates, audit (A5, A6, B6, B7)."""

import pytest
from django.db import IntegrityError, transaction

from core.errors import ApplicationError
from core.models import AuditEvent
from vehicles import services
from vehicles.models import Driver, Vehicle
from vehicles.selectors import drivers_of, vehicles_of

pytestmark = pytest.mark.django_db

VIN = "WDB9634031L123456"
OTHER_VIN = "XTA21099043123456"
IIN = "900101110001"


def register_vehicle(member, **overrides):
    data = {
        "plate": "123 ABC 02",
        "vin": VIN,
        "kind": "truck",
        "registration_country": "KZ",
    } | overrides
    return services.vehicle_register(member=member, **data)


def register_driver(member, **overrides):
    data = {
        "full_name": "Serik Bolatov",
        "iin": IIN,
        "citizenship": "KZ",
        "phone": "+7 701 555 11 22",
    } | overrides
    return services.driver_register(member=member, **data)


def refusal_of(call, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as refusal:
        call(*args, **kwargs)
    return refusal.value


# --- Vehicles ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "dispatcher"])
def test_a5_owner_and_dispatcher_register_vehicles_normalised_and_audited(role, make_member, owner):
    member = owner if role == "owner" else make_member(role, carrier=owner.carrier)
    vehicle = register_vehicle(
        member, plate="123 авс 02", vin="wdb9634031l123456", make_model="  Mercedes  Actros "
    )
    assert (vehicle.plate, vehicle.vin, vehicle.registration_country) == (
        "123ABC02",
        VIN,
        "KZ",
    )
    assert vehicle.make_model == "Mercedes Actros"
    assert vehicle.carrier == owner.carrier and vehicle.is_active
    event = AuditEvent.objects.get(action="vehicle.registered")
    assert event.actor == member.user
    assert event.object_id == str(vehicle.pk)
    assert event.after["plate"] == "123ABC02" and event.after["vin"] == VIN


def test_a5_an_accountant_cannot_register_or_deactivate_vehicles(accountant, owner):
    refusal = refusal_of(register_vehicle, accountant)
    assert (refusal.code, refusal.status) == ("forbidden", 403)
    vehicle = register_vehicle(owner)
    refusal = refusal_of(services.vehicle_deactivate, member=accountant, vehicle=vehicle)
    assert (refusal.code, refusal.status) == ("forbidden", 403)
    vehicle.refresh_from_db()
    assert vehicle.is_active


def test_a5_an_accountant_is_refused_before_the_fields_are_read(accountant):
    refusal = refusal_of(register_vehicle, accountant, plate="", vin="")
    assert refusal.code == "forbidden"


def test_b7_every_field_problem_is_named_at_once(owner):
    refusal = refusal_of(register_vehicle, owner, plate="123 ABC 21", vin="SHORT", kind="bus")
    assert refusal.code == "validation_error"
    assert set(refusal.fields) == {"plate", "vin", "kind"}
    assert not Vehicle.objects.exists()


def test_registration_country_is_an_iso_code(owner):
    refusal = refusal_of(register_vehicle, owner, registration_country="XX", plate="A123BC77")
    assert "registration_country" in refusal.fields
    vehicle = register_vehicle(owner, registration_country=" ru ", plate="А 123 ВС 77")
    assert (vehicle.registration_country, vehicle.plate) == ("RU", "A123BC77")


def test_a_carrier_cannot_register_the_same_vin_twice_while_active(owner, dispatcher):
    register_vehicle(owner)
    refusal = refusal_of(register_vehicle, dispatcher, plate="777 KM 17", vin=VIN.lower())
    assert refusal.code == "validation_error"
    assert list(refusal.fields) == ["vin"]
    assert "123 ABC 02" in refusal.fields["vin"][0]
    assert Vehicle.objects.count() == 1


def test_a_carrier_cannot_register_the_same_plate_twice_while_active(owner):
    register_vehicle(owner)
    refusal = refusal_of(register_vehicle, owner, plate="123 АВС 02", vin=OTHER_VIN)
    assert list(refusal.fields) == ["plate"]
    # The same plate of another country is another plate.
    assert register_vehicle(owner, plate="123ABC02", vin=OTHER_VIN, registration_country="RU")


def test_b6_the_same_vin_may_be_registered_by_another_carrier(owner, stranger):
    mine = register_vehicle(owner)
    theirs = register_vehicle(stranger, plate="555 XY 05")
    assert mine.vin == theirs.vin and mine.carrier != theirs.carrier


def test_a_deactivated_vehicle_can_be_registered_again(owner):
    old = register_vehicle(owner)
    services.vehicle_deactivate(member=owner, vehicle=old)
    again = register_vehicle(owner)
    assert again.pk != old.pk
    assert list(vehicles_of(owner.carrier)) == [again]
    assert set(vehicles_of(owner.carrier, active=None)) == {old, again}


def test_the_database_refuses_a_second_active_vin_of_a_carrier(owner):
    register_vehicle(owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        Vehicle.objects.create(carrier=owner.carrier, kind="trailer", plate="999ZZ09", vin=VIN)


def test_deactivation_keeps_the_row_is_audited_and_happens_once(owner, dispatcher):
    vehicle = register_vehicle(owner)
    services.vehicle_deactivate(member=dispatcher, vehicle=vehicle)
    services.vehicle_deactivate(member=owner, vehicle=vehicle)
    vehicle.refresh_from_db()
    assert not vehicle.is_active
    event = AuditEvent.objects.get(action="vehicle.deactivated")
    assert event.actor == dispatcher.user
    assert event.before["is_active"] is True and event.after["is_active"] is False


def test_a5_another_carriers_vehicle_cannot_be_deactivated(owner, stranger):
    vehicle = register_vehicle(stranger)
    refusal = refusal_of(services.vehicle_deactivate, member=owner, vehicle=vehicle)
    assert (refusal.code, refusal.status) == ("not_found", 404)
    vehicle.refresh_from_db()
    assert vehicle.is_active


def test_vehicles_of_filters_by_kind_and_carrier(owner, stranger):
    truck = register_vehicle(owner)
    trailer = register_vehicle(owner, kind="trailer", plate="321 XY 02", vin=OTHER_VIN)
    register_vehicle(stranger)
    assert list(vehicles_of(owner.carrier, kind="trailer")) == [trailer]
    assert set(vehicles_of(owner.carrier, kind=["truck", "tractor"])) == {truck}
    assert set(vehicles_of(owner.carrier)) == {truck, trailer}


# --- Drivers ----------------------------------------------------------------------------------


def test_drivers_are_registered_normalised_and_audited(dispatcher):
    driver = register_driver(dispatcher, full_name="  Serik   Bolatov ", iin="9001 0111 0001")
    assert (driver.full_name, driver.iin, driver.passport_number, driver.phone) == (
        "Serik Bolatov",
        IIN,
        None,
        "+77015551122",
    )
    event = AuditEvent.objects.get(action="driver.registered")
    assert event.actor == dispatcher.user and event.after["iin"] == IIN


def test_a_foreign_driver_is_registered_by_passport(owner):
    driver = register_driver(
        owner, iin=None, passport_number="аа 123 4567", citizenship="uz", phone="+998901234567"
    )
    assert (driver.iin, driver.passport_number, driver.citizenship) == (None, "AA1234567", "UZ")


def test_a_driver_needs_an_iin_or_a_passport(owner):
    refusal = refusal_of(register_driver, owner, iin="", passport_number="")
    assert set(refusal.fields) == {"iin", "passport_number"}
    assert "IIN or passport number" in refusal.fields["iin"][0]


def test_the_database_refuses_a_driver_without_iin_or_passport(owner):
    with pytest.raises(IntegrityError), transaction.atomic():
        Driver.objects.create(
            carrier=owner.carrier, full_name="Nobody", citizenship="KZ", phone="+77010000000"
        )


def test_driver_fields_are_checked_together(owner):
    refusal = refusal_of(
        register_driver, owner, full_name=" ", iin="900101110002", citizenship="K", phone="12"
    )
    assert set(refusal.fields) == {"full_name", "iin", "citizenship", "phone"}
    assert refusal.fields["iin"] == ["An IIN is 12 digits with a valid check digit."]


@pytest.mark.parametrize("role", ["accountant"])
def test_a5_an_accountant_cannot_register_or_deactivate_drivers(role, accountant, owner):
    assert refusal_of(register_driver, accountant).code == "forbidden"
    driver = register_driver(owner)
    refusal = refusal_of(services.driver_deactivate, member=accountant, driver=driver)
    assert (refusal.code, refusal.status) == ("forbidden", 403)


def test_duplicate_drivers_are_refused_by_iin_and_by_passport(owner, dispatcher):
    register_driver(owner)
    refusal = refusal_of(register_driver, dispatcher, full_name="Another Name")
    assert list(refusal.fields) == ["iin"] and "Serik Bolatov" in refusal.fields["iin"][0]
    register_driver(owner, iin=None, passport_number="AA1234567", citizenship="UZ")
    refusal = refusal_of(
        register_driver, owner, iin=None, passport_number="AA 1234567", citizenship="UZ"
    )
    assert list(refusal.fields) == ["passport_number"]
    # The same number in another country's passport is another passport.
    assert register_driver(owner, iin=None, passport_number="AA1234567", citizenship="KG")


def test_drivers_are_per_carrier_and_deactivated_not_deleted(owner, stranger):
    mine = register_driver(owner)
    theirs = register_driver(stranger)
    assert list(drivers_of(owner.carrier)) == [mine]
    refusal = refusal_of(services.driver_deactivate, member=owner, driver=theirs)
    assert refusal.code == "not_found"
    services.driver_deactivate(member=owner, driver=mine)
    assert list(drivers_of(owner.carrier)) == []
    assert list(drivers_of(owner.carrier, active=False)) == [mine]
    assert AuditEvent.objects.filter(action="driver.deactivated").count() == 1
    assert register_driver(owner).pk != mine.pk  # and can be added again
