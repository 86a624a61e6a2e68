"""Every write of vehicles and drivers: register and deactivate, by the carrier's owner or
dispatcher (SPEC "People"), each with its audit event in the same transaction (A6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from auth2fa.phones import normalize_phone
from carriers.models import Member
from core import audit
from core.errors import ApplicationError
from vehicles import locks
from vehicles.identity import normalize_country, normalize_iin, normalize_passport_number
from vehicles.models import Driver, Vehicle
from vehicles.plates import format_plate, normalize_plate, normalize_vin

MAKE_MODEL_MAX_LENGTH = 100
FULL_NAME_MAX_LENGTH = 200


def _require_fleet_role(member: Member) -> None:
    if not member.can_dispatch:
        raise ApplicationError(
            "forbidden",
            _("Only the carrier's owner or a dispatcher can manage vehicles and drivers."),
            status=403,
        )


def _require_same_carrier(member: Member, obj: Vehicle | Driver) -> None:
    if obj.carrier_id != member.carrier_id:
        raise ApplicationError("not_found", _("Not found."), status=404)


class _Problems:
    """Field problems gathered from every field, so one answer names all that is wrong."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, field: str, problem: str) -> None:
        self.fields.setdefault(field, []).append(str(problem))

    def check(self, normalize: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return normalize(*args, **kwargs)
        except ApplicationError as refusal:
            if refusal.code != "validation_error":
                raise
            for field, problems in refusal.fields.items():
                for problem in problems if isinstance(problems, list) else [problems]:
                    self.add(field, problem)
            return None

    def raise_if_any(self) -> None:
        if not self.fields:
            return
        problems = [problem for items in self.fields.values() for problem in items]
        message = (
            problems[0]
            if len(problems) == 1
            else _("Some fields are not valid: see the note by each of them.")
        )
        raise ApplicationError("validation_error", message, fields=self.fields)


def _phone(raw: str, problems: _Problems) -> str | None:
    try:
        return normalize_phone(raw)
    except ApplicationError as refusal:
        problems.add("phone", refusal.message)
        return None


def _vehicle_facts(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "carrier": vehicle.carrier_id,
        "kind": vehicle.kind,
        "plate": vehicle.plate,
        "registration_country": vehicle.registration_country,
        "vin": vehicle.vin,
        "make_model": vehicle.make_model,
        "is_active": vehicle.is_active,
    }


def _driver_facts(driver: Driver) -> dict[str, Any]:
    return {
        "carrier": driver.carrier_id,
        "full_name": driver.full_name,
        "iin": driver.iin,
        "passport_number": driver.passport_number,
        "citizenship": driver.citizenship,
        "phone": driver.phone,
        "is_active": driver.is_active,
    }


# --- Vehicles -------------------------------------------------------------------------------


def vehicle_register(
    *,
    member: Member,
    plate: str,
    vin: str,
    kind: str,
    registration_country: str,
    make_model: str = "",
) -> Vehicle:
    """Add a truck, tractor unit or trailer to the carrier's fleet.

    The plate is normalised for its registration country (B7) and the VIN per ISO 3779. An
    active vehicle of the same carrier with the same VIN, or the same plate of the same country,
    is a duplicate and refused; another carrier may hold the same VIN (B6 is checked on bookings).
    """
    _require_fleet_role(member)
    problems = _Problems()
    if kind not in Vehicle.Kind.values:
        problems.add("kind", _("Choose the kind: truck, tractor unit or trailer."))
    country = problems.check(normalize_country, registration_country, field="registration_country")
    # With no valid country the plate is still checked, in the general form of any country.
    normal_plate = problems.check(normalize_plate, plate, country or "")
    normal_vin = problems.check(normalize_vin, vin)
    make_model = " ".join(str(make_model or "").split())
    if len(make_model) > MAKE_MODEL_MAX_LENGTH:
        problems.add(
            "make_model",
            _("Make and model: at most %(count)d characters.") % {"count": MAKE_MODEL_MAX_LENGTH},
        )
    problems.raise_if_any()

    carrier = member.carrier
    with transaction.atomic():
        _refuse_duplicate_vehicle(carrier.pk, plate=normal_plate, country=country, vin=normal_vin)
        try:
            with transaction.atomic():
                vehicle = Vehicle.objects.create(
                    carrier=carrier,
                    kind=kind,
                    plate=normal_plate,
                    registration_country=country,
                    vin=normal_vin,
                    make_model=make_model,
                )
        except IntegrityError:
            # Registered by someone else of the carrier a moment ago: the same answer as above.
            _refuse_duplicate_vehicle(
                carrier.pk, plate=normal_plate, country=country, vin=normal_vin
            )
            raise
        audit.record(
            "vehicle.registered", actor=member.user, target=vehicle, after=_vehicle_facts(vehicle)
        )
    return vehicle


def _refuse_duplicate_vehicle(carrier_id: int, *, plate: str, country: str, vin: str) -> None:
    active = Vehicle.objects.filter(carrier_id=carrier_id, is_active=True)
    problems = _Problems()
    same_vin = active.filter(vin=vin).first()
    if same_vin is not None:
        problems.add(
            "vin",
            _("The carrier already has a vehicle with this VIN: %(plate)s.")
            % {"plate": same_vin.plate_display},
        )
    if active.filter(plate=plate, registration_country=country).exists():
        problems.add(
            "plate",
            _("The carrier already has a vehicle with the plate %(plate)s.")
            % {"plate": format_plate(plate, country)},
        )
    problems.raise_if_any()


def vehicle_deactivate(*, member: Member, vehicle: Vehicle) -> Vehicle:
    """Take a vehicle out of the fleet: it can no longer be booked; its row and its bookings stay.
    Deactivating an inactive vehicle changes nothing."""
    _require_fleet_role(member)
    _require_same_carrier(member, vehicle)
    with transaction.atomic():
        vehicle = locks.vehicle(vehicle.pk)
        if not vehicle.is_active:
            return vehicle
        before = _vehicle_facts(vehicle)
        vehicle.is_active = False
        vehicle.save(update_fields=["is_active"])
        audit.record(
            "vehicle.deactivated",
            actor=member.user,
            target=vehicle,
            before=before,
            after=_vehicle_facts(vehicle),
        )
    return vehicle


# --- Drivers --------------------------------------------------------------------------------


def driver_register(
    *,
    member: Member,
    full_name: str,
    iin: str | None = None,
    passport_number: str | None = None,
    citizenship: str,
    phone: str,
) -> Driver:
    """Add a driver, identified by a Kazakh IIN or by a passport number with its citizenship.

    An active driver of the same carrier with the same IIN, or the same passport number and
    citizenship, is a duplicate and refused.
    """
    _require_fleet_role(member)
    problems = _Problems()
    full_name = " ".join(str(full_name or "").split())
    if not full_name:
        problems.add("full_name", _("Enter the driver's full name."))
    elif len(full_name) > FULL_NAME_MAX_LENGTH:
        problems.add(
            "full_name",
            _("The full name has at most %(count)d characters.") % {"count": FULL_NAME_MAX_LENGTH},
        )
    normal_iin = problems.check(normalize_iin, iin)
    normal_passport = problems.check(normalize_passport_number, passport_number)
    if (
        normal_iin is None
        and normal_passport is None
        and "iin" not in problems.fields
        and "passport_number" not in problems.fields
    ):
        missing = _("Enter the driver's IIN or passport number.")
        problems.add("iin", missing)
        problems.add("passport_number", missing)
    country = problems.check(normalize_country, citizenship, field="citizenship")
    normal_phone = _phone(phone, problems)
    problems.raise_if_any()

    carrier = member.carrier
    with transaction.atomic():
        _refuse_duplicate_driver(
            carrier.pk, iin=normal_iin, passport_number=normal_passport, citizenship=country
        )
        try:
            with transaction.atomic():
                driver = Driver.objects.create(
                    carrier=carrier,
                    full_name=full_name,
                    iin=normal_iin,
                    passport_number=normal_passport,
                    citizenship=country,
                    phone=normal_phone,
                )
        except IntegrityError:
            _refuse_duplicate_driver(
                carrier.pk, iin=normal_iin, passport_number=normal_passport, citizenship=country
            )
            raise
        audit.record(
            "driver.registered", actor=member.user, target=driver, after=_driver_facts(driver)
        )
    return driver


def _refuse_duplicate_driver(
    carrier_id: int, *, iin: str | None, passport_number: str | None, citizenship: str
) -> None:
    active = Driver.objects.filter(carrier_id=carrier_id, is_active=True)
    problems = _Problems()
    if iin is not None:
        same = active.filter(iin=iin).first()
        if same is not None:
            problems.add(
                "iin",
                _("The carrier already has a driver with this IIN: %(name)s.")
                % {"name": same.full_name},
            )
    if passport_number is not None:
        same = active.filter(passport_number=passport_number, citizenship=citizenship).first()
        if same is not None:
            problems.add(
                "passport_number",
                _("The carrier already has a driver with this passport: %(name)s.")
                % {"name": same.full_name},
            )
    problems.raise_if_any()


def driver_deactivate(*, member: Member, driver: Driver) -> Driver:
    """Take a driver off the carrier's list: no new bookings name them; the row stays.
    Deactivating an inactive driver changes nothing."""
    _require_fleet_role(member)
    _require_same_carrier(member, driver)
    with transaction.atomic():
        driver = locks.driver(driver.pk)
        if not driver.is_active:
            return driver
        before = _driver_facts(driver)
        driver.is_active = False
        driver.save(update_fields=["is_active"])
        audit.record(
            "driver.deactivated",
            actor=member.user,
            target=driver,
            before=before,
            after=_driver_facts(driver),
        )
    return driver
