"""The world most booking tests start from: a carrier ready to book (money, a truck, a tractor,
a trailer, drivers) at KORDAI on Friday 20 March 2026, and the few steps every such test takes
(book, refuse, more trucks, an officer at the checkpoint). The fixtures over them are in
tests/conftest.py (`clock`, `world`, `officer`, `english`)."""

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from bookings import services
from bookings.models import Booking
from carriers.models import Member
from checkpoints.models import Checkpoint
from checkpoints.services import reference_checkpoints_load
from core.clock import ALMATY
from core.errors import ApplicationError
from deposits import services as ledger
from tests.auth2fa.factories import registered_person
from tests.factories import StaffAssignmentFactory
from tests.fees.factories import fees_in_force_today
from vehicles import services as fleet

NOW = dt.datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY)


def at(day_offset: int, hour: int) -> dt.datetime:
    """A slot start `day_offset` days after NOW's date at `hour` local time."""
    day = NOW.date() + dt.timedelta(days=day_offset)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ALMATY)


@dataclasses.dataclass
class World:
    member: Member
    checkpoint: Checkpoint
    truck: object
    tractor: object
    trailer: object
    drivers: list
    fake_twilio: object

    @property
    def carrier(self):
        return self.member.carrier

    def top_up(self, amount: str, reference: str = "TOPUP") -> None:
        ledger.account_top_up(
            carrier=self.carrier, amount=Decimal(amount), bank_reference=reference
        )


def make_world(
    fake_twilio,
    *,
    iin_bin="230140012340",
    iin="850512300119",
    phone="+77011234567",
    email="owner@steppe.kz",
    plates=("123ABC02", "456DEF02"),
    vins=("XTA21099012345678", "XTA21099012345679", "WDB96340310123456"),
) -> World:
    reference_checkpoints_load()
    fees_in_force_today()
    person = registered_person(fake_twilio, iin_bin=iin_bin, iin=iin, phone=phone, email=email)
    member = Member.objects.select_related("carrier").get(user=person)
    truck = fleet.vehicle_register(
        member=member, plate=plates[0], vin=vins[0], kind="truck", registration_country="KZ"
    )
    tractor = fleet.vehicle_register(
        member=member, plate=plates[1], vin=vins[1], kind="tractor", registration_country="KZ"
    )
    trailer = fleet.vehicle_register(
        member=member, plate="AB1234", vin=vins[2], kind="trailer", registration_country="KG"
    )
    drivers = [
        fleet.driver_register(
            member=member,
            full_name=name,
            iin=None,
            passport_number=passport,
            citizenship="KZ",
            phone=f"+7701999000{n}",
        )
        for n, (name, passport) in enumerate(
            (
                ("Yerlan Driver", "N1234567"),
                ("Asel Driver", "N7654321"),
                ("Bolat Driver", "N1111111"),
                ("Dana Driver", "N2222222"),
            )
        )
    ]
    return World(
        member=member,
        checkpoint=Checkpoint.objects.get(code="KORDAI"),
        truck=truck,
        tractor=tractor,
        trailer=trailer,
        drivers=drivers,
        fake_twilio=fake_twilio,
    )


# Another carrier than make_world's: its own BIN, owner, phone, plates and VINs.
OTHER_CARRIER = {
    "iin_bin": "377835337400",
    "iin": "377835337400",
    "phone": "+77017654321",
    "email": "other@carrier.kz",
    "plates": ("777AAA01", "778AAA01"),
    "vins": ("XTA21099012340001", "XTA21099012340002", "WDB96340310120003"),
}


def make_other_world(fake_twilio, **overrides) -> World:
    """A second carrier beside make_world's, ready to book."""
    return make_world(fake_twilio, **{**OTHER_CARRIER, **overrides})


def request(
    world,
    *,
    start=None,
    service="regular",
    vehicle=None,
    trailer=None,
    drivers=None,
    checkpoint="KORDAI",
    **extra,
) -> services.BookingRequest:
    """A booking request of `world`'s carrier: its truck and first driver, tomorrow 09:00 at
    KORDAI, exit, regular, unless told otherwise."""
    return services.BookingRequest(
        checkpoint_code=checkpoint,
        direction="exit",
        service=service,
        slot_start=start or at(1, 9),
        vehicle_id=(vehicle or world.truck).pk,
        trailer_id=trailer.pk if trailer else None,
        driver_ids=[d.pk for d in (world.drivers[:1] if drivers is None else drivers)],
        **extra,
    )


def book(world, **kwargs) -> Booking:
    return services.booking_create(member=world.member, request=request(world, **kwargs))


def refused(call, code: str) -> ApplicationError:
    with pytest.raises(ApplicationError) as refusal:
        call()
    assert refusal.value.code == code, (refusal.value.code, refusal.value.message)
    return refusal.value


def trucks(world, n: int):
    """`n` more trucks of `world`'s carrier."""
    return [
        fleet.vehicle_register(
            member=world.member,
            plate=f"{300 + i}QQQ02",
            vin=f"XTA2109901200{i:04d}",
            kind="truck",
            registration_country="KZ",
        )
        for i in range(n)
    ]


def officer_at(checkpoint: Checkpoint, email: str = "officer@kordai.kz"):
    """A member of the checkpoint's staff (A5)."""
    return StaffAssignmentFactory(
        checkpoint=checkpoint, user__email=email, user__full_name="Officer Kordai"
    ).user
