"""Demo data for trying the portal out (`make run`): people of every role who can sign in at
once, a funded carrier with its fleet and bookings, and a waiting area that is not empty.

Everything goes through the services people use (statement import, fleet, bookings, check-in),
so the demo shows what the real paths leave behind. Loading again tops up what is missing and
changes nothing else; only the operator's backup codes are made anew, to be printed.
"""

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from auth2fa.models import SmsDevice
from auth2fa.roles import AUDITORS, CHECKPOINT_STAFF, OPERATORS
from auth2fa.services import backup_codes_generate
from bookings import services as bookings
from bookings.models import Booking
from carriers.models import Carrier, Member
from carriers.validators import first_valid_iin_bin_from
from checkpoint_queue import services as queue_services
from checkpoints.models import Checkpoint, StaffAssignment
from core import audit, clock
from core.errors import ApplicationError
from deposits.models import StatementEntry
from deposits.services import bank_statement_import, personal_account_open
from vehicles import services as fleet
from vehicles.models import Driver, Vehicle


@dataclasses.dataclass(frozen=True)
class DemoAccount:
    """A person `make run` prints: sign in with `email` and `password`, then the SMS code that
    the console shows for `phone`."""

    email: str
    password: str
    role: str
    open_first: str
    full_name: str
    phone: str
    iin: str


BOARD_CHECKPOINT = "NUR-ZHOLY"

OWNER = DemoAccount(
    "owner@demo-carrier.kz",
    "kezek-demo",
    "carrier owner: bookings, fleet, money, people",
    "/cabinet/",
    "Aigerim Demo",
    "+77010000001",
    "850512300119",
)
DISPATCHER = DemoAccount(
    "dispatcher@demo-carrier.kz",
    "kezek-demo",
    "carrier dispatcher: bookings, fleet",
    "/cabinet/bookings/new/",
    "Yerlan Dispatcher",
    "+77010000002",
    first_valid_iin_bin_from(90031530010),
)
ACCOUNTANT = DemoAccount(
    "accountant@demo-carrier.kz",
    "kezek-demo",
    "carrier accountant: personal account, receipts",
    "/cabinet/account/",
    "Saule Accountant",
    "+77010000003",
    first_valid_iin_bin_from(88110240020),
)
OPERATOR = DemoAccount(
    "operator@kezek.local",
    "kezek-operator-demo",
    "registrar operator: admin (fees, capacity, statements, budget)",
    "/admin/",
    "Demo Operator",
    "+77010000004",
    first_valid_iin_bin_from(79042030030),
)
STAFF = DemoAccount(
    "staff@kezek.local",
    "kezek-staff-demo",
    "checkpoint staff at Nur Zholy: arrivals, calls, crossings",
    f"/staff/checkpoints/{BOARD_CHECKPOINT}/",
    "Marat Staff",
    "+77010000005",
    first_valid_iin_bin_from(86070150040),
)
AUDITOR = DemoAccount(
    "auditor@kezek.local",
    "kezek-auditor-demo",
    "auditor: reads everything in the admin, changes nothing",
    "/admin/",
    "Dana Auditor",
    "+77010000006",
    first_valid_iin_bin_from(91120360050),
)
ACCOUNTS = (OWNER, DISPATCHER, ACCOUNTANT, OPERATOR, STAFF, AUDITOR)

DEMO_CARRIER = {
    "kind": Carrier.Kind.COMPANY,
    "iin_bin": "230140012340",
    "name": "Demo Logistics LLP",
}
# Another carrier, nobody's to sign in as: its trucks stand in the waiting area of the board.
NEIGHBOUR_CARRIER = {
    "kind": Carrier.Kind.COMPANY,
    "iin_bin": first_valid_iin_bin_from(19054000010),
    "name": "Steppe Transit LLP",
}
NEIGHBOUR_OWNER = ("owner@steppe-transit.kz", "Bolat Steppe", "+77010000007")

# (kind, plate, VIN, country of registration)
DEMO_FLEET = (
    ("truck", "101 DMO 02", "XTC65117012000101", "KZ"),
    ("tractor", "202 DMO 02", "YS2R4X20001200202", "KZ"),
    ("trailer", "033 DM 02", "WSM00000003000303", "KZ"),
)
NEIGHBOUR_FLEET = (
    ("truck", "301 STP 05", "XTC65117012000301", "KZ"),
    ("truck", "302 STP 05", "XTC65117012000302", "KZ"),
    ("tractor", "303 STP 05", "YS2R4X20001200303", "KZ"),
)
DEMO_DRIVERS = (
    ("Nurlan Bekov", first_valid_iin_bin_from(80030230060), None, "KZ", "+77010000011"),
    ("Aidos Serikov", first_valid_iin_bin_from(84111130070), None, "KZ", "+77010000012"),
    ("Azamat Toktogulov", None, "AC1234567", "KG", "+996555000013"),
)
NEIGHBOUR_DRIVER = ("Bauyrzhan Ospan", first_valid_iin_bin_from(77060630080), None, "KZ")

# The money comes in as it does for everyone: a day statement of the registrar's account.
TOP_UPS = (
    (DEMO_CARRIER, "DEMO-TOPUP-0001", Decimal("2000000.00")),
    (NEIGHBOUR_CARRIER, "DEMO-TOPUP-0002", Decimal("500000.00")),
)


@dataclasses.dataclass
class DemoData:
    carrier: Carrier
    backup_codes: list[str]
    notes: list[str]


def demo_data_load() -> DemoData:
    """Load (or complete) the demo; returns the carrier, the operator's new backup codes and
    what could not be done now (e.g. no bookings while this year's MRP is missing)."""
    notes: list[str] = []
    people = {account.email: _person(account) for account in ACCOUNTS}
    operator, staff = people[OPERATOR.email], people[STAFF.email]
    with transaction.atomic():
        _give_role(operator, OPERATORS, superuser=True)
        _give_role(people[AUDITOR.email], AUDITORS)
        _give_role(staff, CHECKPOINT_STAFF)
        board = Checkpoint.objects.get(code=BOARD_CHECKPOINT)
        StaffAssignment.objects.get_or_create(user=staff, checkpoint=board)

    carrier = _carrier(
        DEMO_CARRIER,
        {
            people[OWNER.email]: Member.Role.OWNER,
            people[DISPATCHER.email]: Member.Role.DISPATCHER,
            people[ACCOUNTANT.email]: Member.Role.ACCOUNTANT,
        },
    )
    neighbour_owner = _background_person(*NEIGHBOUR_OWNER)
    _carrier(NEIGHBOUR_CARRIER, {neighbour_owner: Member.Role.OWNER})
    _top_up_by_statement(actor=operator)

    owner = Member.objects.get(user=people[OWNER.email])
    truck, tractor, trailer = (_vehicle(owner, *row) for row in DEMO_FLEET)
    drivers = [
        _driver(owner, name, iin, passport, citizenship, phone)
        for name, iin, passport, citizenship, phone in DEMO_DRIVERS
    ]
    neighbour_member = Member.objects.get(user=neighbour_owner)
    neighbour_trucks = [_vehicle(neighbour_member, *row) for row in NEIGHBOUR_FLEET]
    neighbour_driver = _driver(neighbour_member, *NEIGHBOUR_DRIVER, phone="+77010000017")

    now = clock.now()
    today = clock.local_date(now)
    upcoming = (
        # (vehicle, trailer, drivers, checkpoint, direction, days ahead, hour)
        (truck, None, drivers[:1], "DOSTYK", "exit", 1, 10),
        (truck, None, drivers[:2], "KORDAI", "exit", 2, 14),
        (tractor, trailer, drivers[2:], "KURMANGAZY", "entry", 3, 9),
    )
    try:
        for vehicle, with_trailer, crew, code, direction, days, hour in upcoming:
            start = dt.datetime.combine(
                today + dt.timedelta(days=days), dt.time(hour), tzinfo=clock.ALMATY
            )
            _book(owner, vehicle, with_trailer, crew, code, direction, start)
        # The waiting area of the board: the neighbour's trucks booked for the next hour that
        # can be booked (C4) and checked in (Q1 accepts them from 3 hours before).
        next_hour = (now + dt.timedelta(hours=2)).astimezone(clock.ALMATY)
        next_hour = next_hour.replace(minute=0, second=0, microsecond=0)
        for vehicle in neighbour_trucks:
            booking = _book(
                neighbour_member,
                vehicle,
                None,
                [neighbour_driver],
                BOARD_CHECKPOINT,
                "exit",
                next_hour,
            )
            if booking is not None:
                queue_services.booking_mark_arrived(booking=booking, actor=staff)
    except ApplicationError as refusal:
        notes.append(f"Demo bookings not made now: {refusal.message}")
    return DemoData(carrier=carrier, backup_codes=backup_codes_generate(user=operator), notes=notes)


def _person(account: DemoAccount):
    """The account's person with a confirmed phone and its SMS factor (codes in the console)."""
    user_model = get_user_model()
    with transaction.atomic():
        person = user_model.objects.filter(email=account.email).first()
        if person is None:
            person = user_model.objects.create_user(
                account.email,
                account.password,
                full_name=account.full_name,
                iin=account.iin,
                phone=account.phone,
                language="ru",
            )
            audit.record("demo.person_created", target=person, after={"email": account.email})
        _confirm_phone(person)
    return person


def _background_person(email: str, full_name: str, phone: str):
    """A person nobody signs in as (no usable password): the neighbour carrier's owner."""
    user_model = get_user_model()
    with transaction.atomic():
        person = user_model.objects.filter(email=email).first()
        if person is None:
            person = user_model.objects.create_user(
                email, None, full_name=full_name, phone=phone, language="ru"
            )
            audit.record("demo.person_created", target=person, after={"email": email})
        _confirm_phone(person)
    return person


def _confirm_phone(person) -> None:
    if person.phone_verified_at is None:
        person.phone_verified_at = clock.now()
        person.save(update_fields=["phone_verified_at"])
    SmsDevice.objects.update_or_create(
        user=person, phone=person.phone, defaults={"name": "Phone", "confirmed": True}
    )


def _give_role(person, role: str, *, superuser: bool = False) -> None:
    changed = not person.is_staff or (superuser and not person.is_superuser)
    if changed:
        person.is_staff = True
        person.is_superuser = person.is_superuser or superuser
        person.save(update_fields=["is_staff", "is_superuser"])
    if not person.groups.filter(name=role).exists():
        person.groups.add(Group.objects.get(name=role))
        audit.record("demo.role_given", target=person, after={"role": role})


def _carrier(facts: dict[str, Any], members: dict[Any, str]) -> Carrier:
    with transaction.atomic():
        # The demo's carriers count as confirmed by their EDS (A7), so they can book.
        carrier, created = Carrier.objects.get_or_create(
            iin_bin=facts["iin_bin"], defaults={**facts, "confirmed_at": clock.now()}
        )
        if created:
            audit.record("demo.carrier_created", target=carrier, after=facts)
        for person, role in members.items():
            Member.objects.get_or_create(carrier=carrier, user=person, defaults={"role": role})
        personal_account_open(carrier=carrier)
    return carrier


def _top_up_by_statement(*, actor) -> None:
    """Fund the demo carriers through the import an operator uses for the bank's statements
    (P1); a reference already imported is not sent again."""
    credits = []
    for facts, reference, amount in TOP_UPS:
        if StatementEntry.objects.filter(bank_reference=reference).exists():
            continue
        carrier = Carrier.objects.select_related("personal_account").get(iin_bin=facts["iin_bin"])
        credits.append(
            Credit(
                reference=reference,
                amount=amount,
                payer_name=carrier.name,
                account_number=carrier.personal_account.number,
                payer_bin=carrier.iin_bin,
            )
        )
    if credits:
        statement = camt053_statement(credits, day=clock.local_today())
        bank_statement_import(data=statement, filename="demo-statement.xml", actor=actor)


@dataclasses.dataclass(frozen=True)
class Credit:
    """A credit to the registrar's account as the bank lists it: who paid, quoting which
    personal account number."""

    reference: str
    amount: Decimal
    payer_name: str
    account_number: str
    payer_bin: str = ""


def camt053_statement(credits: list[Credit], *, day: dt.date) -> bytes:
    """A day statement (ISO 20022 camt.053.001.02) of the registrar's account with one booked
    credit per item, each quoting its personal account number as banks write it."""
    iban = settings.REGISTRAR_IBAN
    entries = "".join(
        f"""
      <Ntry>
        <NtryRef>{credit.reference}</NtryRef>
        <Amt Ccy="KZT">{credit.amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>{day}</Dt></BookgDt>
        <ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>{credit.reference}</AcctSvcrRef>
        <NtryDtls><TxDtls>
          <Refs><AcctSvcrRef>{credit.reference}</AcctSvcrRef></Refs>
          <RltdPties><Dbtr><Nm>{escape(credit.payer_name)}</Nm>{_payer_id(credit)}</Dbtr></RltdPties>
          <RmtInf><Ustrd>{escape(_purpose(credit.account_number))}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
        for credit in credits
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>STMT-{day:%Y%m%d}</MsgId><CreDtTm>{day}T06:00:00+05:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>{day:%Y%m%d}-{iban}</Id>
      <CreDtTm>{day}T06:00:00+05:00</CreDtTm>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>KZT</Ccy></Acct>{entries}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def _payer_id(credit: Credit) -> str:
    if not credit.payer_bin:
        return ""
    return f"<Id><OrgId><Othr><Id>{credit.payer_bin}</Id></Othr></OrgId></Id>"


def _purpose(account_number: str) -> str:
    return f"Пополнение лицевого счёта {account_number}. Без НДС"


def _vehicle(member: Member, kind: str, plate: str, vin: str, country: str) -> Vehicle:
    existing = Vehicle.objects.filter(carrier=member.carrier, vin=vin, is_active=True).first()
    return existing or fleet.vehicle_register(
        member=member, plate=plate, vin=vin, kind=kind, registration_country=country
    )


def _driver(
    member: Member,
    full_name: str,
    iin: str | None,
    passport: str | None,
    citizenship: str,
    phone: str,
) -> Driver:
    existing = Driver.objects.filter(
        carrier=member.carrier, full_name=full_name, is_active=True
    ).first()
    return existing or fleet.driver_register(
        member=member,
        full_name=full_name,
        iin=iin,
        passport_number=passport,
        citizenship=citizenship,
        phone=phone,
    )


def _book(
    member: Member,
    vehicle: Vehicle,
    trailer: Vehicle | None,
    drivers: list[Driver],
    checkpoint_code: str,
    direction: str,
    start: dt.datetime,
) -> Booking | None:
    """A booking, unless the vehicle already has an active one in that country (B6): then the
    demo has it from an earlier load."""
    checkpoint = Checkpoint.objects.get(code=checkpoint_code)
    if Booking.objects.filter(
        vehicle=vehicle, country_id=checkpoint.country_id, status__in=Booking.ACTIVE
    ).exists():
        return None
    return bookings.booking_create(
        member=member,
        request=bookings.BookingRequest(
            checkpoint_code=checkpoint_code,
            direction=direction,
            service="regular",
            slot_start=start,
            vehicle_id=vehicle.pk,
            trailer_id=trailer.pk if trailer else None,
            driver_ids=[driver.pk for driver in drivers],
        ),
    )
