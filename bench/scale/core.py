"""The core of a scale database, made through Kezek's own services (`python -m bench.scale.core`).

`history BOOKINGS_PER_DAY CARRIERS`: carriers with money, trucks and drivers, then one week of
traffic that ended yesterday, lived hour by hour on a moved clock (time-machine): bookings made
the day before (`booking_create`), arrivals (`booking_mark_arrived`), calls (`queue_call_next`),
crossings (`booking_mark_crossed`), no-shows (`no_shows_sweep`), the nightly transfer to the
budget (`budget_transfer_make`, with its receipts), the audit seal (`seal_all`). It prints, as
JSON, the id each table had reached before the week began and after it ended: the rows between
are the week that `bench.scale.grow` copies.

`live BOOKINGS`: today's traffic at the real time: bookings for the coming days (their fees
not yet transferred to the budget) and a queue at the board's checkpoint; a carrier and a
personal API token for the measured requests. Prints the facts the measurement needs as JSON.
"""

import datetime as dt
import json
import sys
from decimal import Decimal

import django

django.setup()

import time_machine  # noqa: E402
from django.apps import apps  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

from auth2fa.models import ApiToken  # noqa: E402
from auth2fa.services import api_token_issue  # noqa: E402
from bench.scale.common import CORE_DAYS, VEHICLES_PER_CARRIER  # noqa: E402
from bookings import services as bookings  # noqa: E402
from bookings.models import Booking  # noqa: E402
from carriers.models import Carrier, Member  # noqa: E402
from carriers.validators import first_valid_iin_bin_from  # noqa: E402
from checkpoint_queue import services as queue_services  # noqa: E402
from checkpoints import capacity  # noqa: E402
from checkpoints.models import Checkpoint  # noqa: E402
from core import audit, clock  # noqa: E402
from core.clock import ALMATY  # noqa: E402
from core.errors import ApplicationError  # noqa: E402
from deposits import services as ledger  # noqa: E402
from fees.services import budget_transfer_make  # noqa: E402
from receipts.services import receipts_issue_missing  # noqa: E402
from vehicles import services as fleet  # noqa: E402

TOP_UP = Decimal("200000000")
BOARD_CHECKPOINT = "KARASU"
NO_SHOW_EVERY = 20  # one booking in 20 never arrives (D6)
PLATE_LETTERS = "ABCEHKMOPTXY"


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ALMATY)


def _travel(moment: dt.datetime):
    return time_machine.travel(moment, tick=True)


def _plate(number: int) -> str:
    letters = "".join(
        PLATE_LETTERS[(number // 1000 // len(PLATE_LETTERS) ** i) % len(PLATE_LETTERS)]
        for i in range(3)
    )
    return f"{number % 1000:03d}{letters}02"


def carrier_make(n: int, *, first_vehicle: int, vehicles: int) -> dict:
    # Half the owners have a confirmed phone: they are told of their bookings by SMS.
    user = get_user_model().objects.create_user(
        f"scale{n}@scale.kezek.kz",
        None,
        full_name=f"Scale Carrier {n}",
        phone=f"+7705{n:07d}",
        phone_verified_at=clock.now() if n % 2 == 0 else None,
    )
    carrier = Carrier.objects.create(
        kind="company",
        iin_bin=first_valid_iin_bin_from(30_000_000_000 + n * 7),
        name=f"Scale {n}",
        confirmed_at=clock.now(),  # A7: as if its owner had signed with the company's EDS
    )
    member = Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=TOP_UP, bank_reference=f"SCALE-{n}-0")
    trucks = []
    for v in range(vehicles):
        number = first_vehicle + v
        truck = fleet.vehicle_register(
            member=member,
            plate=_plate(number),
            vin=f"XTS2109901{number:07d}",
            kind="truck",
            registration_country="KZ",
        )
        trucks.append(truck.pk)
    driver = fleet.driver_register(
        member=member,
        full_name=f"Scale Driver {n}",
        passport_number=f"S{n:07d}",
        citizenship="KZ",
        phone="+77019990001",
    )
    return {"member": member, "trucks": trucks, "driver": driver.pk}


def watermarks() -> dict[str, int]:
    """The highest id of every table with a bigint id (0 when empty)."""
    marks = {}
    with connection.cursor() as cursor:
        for model in apps.get_models(include_auto_created=True):
            pk = model._meta.pk
            if pk.get_internal_type() not in ("BigAutoField", "AutoField") or model._meta.proxy:
                continue
            table = model._meta.db_table
            cursor.execute(f'SELECT coalesce(max("{pk.column}"), 0) FROM "{table}"')  # noqa: S608
            marks[table] = cursor.fetchone()[0]
    return marks


class Planner:
    """Free hours of the bookable checkpoints, counting the planner's own bookings, so that no
    booking meets a closed or full hour."""

    def __init__(self) -> None:
        self.checkpoints = list(Checkpoint.objects.bookable().order_by("code"))
        self.plans: dict = {}
        self.booked: dict = {}
        self.turn = 0

    def place(self, day: dt.date, hour_hint: int) -> tuple[Checkpoint, str, int] | None:
        for _try in range(len(self.checkpoints) * 2):
            checkpoint = self.checkpoints[self.turn % len(self.checkpoints)]
            direction = ("exit", "entry")[(self.turn // len(self.checkpoints)) % 2]
            self.turn += 1
            key = (checkpoint.pk, direction, day)
            if key not in self.plans:
                self.plans[key] = capacity.plan_of_day(
                    checkpoint=checkpoint, direction=direction, date=day
                )
            plan = self.plans[key]
            for step in range(24):
                hour = (hour_hint + step) % 24
                taken = self.booked.get((*key, hour), 0)
                if plan.is_open(hour) and taken < plan.planned(capacity.REGULAR, hour):
                    self.booked[(*key, hour)] = taken + 1
                    return checkpoint, direction, hour
        return None


def book_day(carriers: list[dict], planner: Planner, day: dt.date, count: int, pool: int) -> int:
    """`count` regular bookings for `day`, one truck each, from the trucks of `pool`."""
    half = VEHICLES_PER_CARRIER // 2
    made = 0
    for i in range(count):
        carrier = carriers[i % len(carriers)]
        slot = i // len(carriers)
        if slot >= half:
            break
        found = planner.place(day, (i * 7 + 5) % 24)
        if found is None:
            break
        checkpoint, direction, hour = found
        try:
            bookings.booking_create(
                member=carrier["member"],
                request=bookings.BookingRequest(
                    checkpoint_code=checkpoint.code,
                    direction=direction,
                    service="regular",
                    slot_start=_at(day, hour),
                    vehicle_id=carrier["trucks"][pool * half + slot],
                    trailer_id=None,
                    driver_ids=[carrier["driver"]],
                ),
            )
        except ApplicationError as refusal:
            print(f"refused: {refusal}", file=sys.stderr)
            continue
        made += 1
    return made


def live_day(day: dt.date, operator) -> None:
    """Arrivals, calls and crossings of `day` hour by hour; the sweep and the budget after it."""
    for hour in range(24):
        slot = _at(day, hour)
        due = Booking.objects.filter(
            slot_start=slot, status=Booking.Status.CONFIRMED
        ).select_related("checkpoint")
        with _travel(slot - dt.timedelta(minutes=40)):
            for booking in due:
                if booking.pk % NO_SHOW_EVERY:
                    queue_services.booking_mark_arrived(booking=booking, actor=operator)
        with _travel(slot + dt.timedelta(minutes=15)):
            queues = (
                Booking.objects.filter(status=Booking.Status.ARRIVED, slot_start__lte=slot)
                .values_list("checkpoint", "direction")
                .distinct()
            )
            for checkpoint_id, direction in list(queues):
                checkpoint = Checkpoint.objects.get(pk=checkpoint_id)
                while True:
                    try:
                        called = queue_services.queue_call_next(
                            checkpoint=checkpoint, direction=direction, actor=operator, count=20
                        )
                    except ApplicationError:
                        break
                    for booking in called:
                        queue_services.booking_mark_crossed(booking=booking, actor=operator)
        with _travel(slot + dt.timedelta(minutes=50)):
            audit.seal_all()
    after = _at(day + dt.timedelta(days=1), 1, 30)
    with _travel(after):
        bookings.no_shows_sweep()
        budget_transfer_make()
        receipts_issue_missing()
        audit.seal_all()


def history(per_day: int, carrier_count: int) -> dict:
    today = clock.local_today()
    first = today - dt.timedelta(days=CORE_DAYS + 1)
    days = [first + dt.timedelta(days=d) for d in range(CORE_DAYS)]
    with _travel(_at(first - dt.timedelta(days=2), 9)):
        carriers = [
            carrier_make(n, first_vehicle=n * VEHICLES_PER_CARRIER, vehicles=VEHICLES_PER_CARRIER)
            for n in range(carrier_count)
        ]
        operator = get_user_model().objects.create_superuser(
            "operator@scale.kezek.kz", None, full_name="Scale Operator", phone="+77059999999"
        )
        audit.seal_all()
    before = watermarks()
    planner = Planner()
    made = 0
    with _travel(_at(first - dt.timedelta(days=1), 9)):
        for n, carrier in enumerate(carriers):
            ledger.account_top_up(
                carrier=carrier["member"].carrier,
                amount=TOP_UP,
                bank_reference=f"SCALE-{n}-week",
            )
    for index, day in enumerate(days):
        with _travel(_at(day - dt.timedelta(days=1), 10)):
            made += book_day(carriers, planner, day, per_day, index % 2)
            audit.seal_all()
        live_day(day, operator)
    after = watermarks()
    left = Booking.objects.filter(status__in=Booking.ACTIVE).count()
    if left:
        raise SystemExit(f"{left} bookings of the week are still active")
    return {"before": before, "after": after, "bookings": made, "days": [str(d) for d in days]}


def live(count: int) -> dict:
    """Today's traffic, at the real time."""
    now = clock.now()
    today = clock.local_date(now)
    operator = get_user_model().objects.get(email="operator@scale.kezek.kz")
    members = list(Member.objects.select_related("carrier", "user").order_by("pk"))
    carriers = []
    for member in members:
        trucks = list(member.carrier.vehicles.order_by("pk").values_list("pk", flat=True))
        driver = member.carrier.drivers.order_by("pk").values_list("pk", flat=True)[0]
        carriers.append({"member": member, "trucks": trucks, "driver": driver})
    planner = Planner()
    # Tomorrow and the day after: bookings whose fees wait for tonight's budget transfer.
    made = book_day(carriers, planner, today + dt.timedelta(days=2), count, 0)
    made += book_day(carriers, planner, today + dt.timedelta(days=3), count, 1)
    # The board: trucks due in the next hours at its checkpoint, checked in (Q1).
    earliest, _latest = capacity.booking_window(now)
    start = earliest.astimezone(ALMATY).replace(minute=0, second=0, microsecond=0)
    if start < earliest:
        start += capacity.SLOT_LENGTH
    board = Checkpoint.objects.get(code=BOARD_CHECKPOINT)
    queued = 0
    extra = carrier_make(
        len(members), first_vehicle=len(members) * VEHICLES_PER_CARRIER, vehicles=40
    )
    for i in range(12):
        try:
            booking = bookings.booking_create(
                member=extra["member"],
                request=bookings.BookingRequest(
                    checkpoint_code=BOARD_CHECKPOINT,
                    direction=("exit", "entry")[i % 2],
                    service="regular",
                    slot_start=start + (i // 6) * capacity.SLOT_LENGTH,
                    vehicle_id=extra["trucks"][i],
                    trailer_id=None,
                    driver_ids=[extra["driver"]],
                ),
            )
            queue_services.booking_mark_arrived(booking=booking, actor=operator)
            queued += 1
        except ApplicationError as refusal:
            print(f"board refused: {refusal}", file=sys.stderr)
    token = api_token_issue(
        user=extra["member"].user, kind=ApiToken.Kind.PERSONAL, name="scale"
    ).secret
    # Sealed as the worker would within seconds: verify_audit_chain allows a minute.
    audit.seal_all()
    busiest = members[0]
    return {
        "live_bookings": made,
        "board_checkpoint": board.code,
        "board_arrived": queued,
        "token": token,
        "api_trucks": extra["trucks"][12:],
        "api_driver": extra["driver"],
        "cabinet_user": busiest.user.pk,
        "cabinet_carrier": busiest.carrier.pk,
    }


if __name__ == "__main__":
    step = sys.argv[1]
    if step == "history":
        facts = history(int(sys.argv[2]), int(sys.argv[3]))
    elif step == "live":
        facts = live(int(sys.argv[2]))
    else:
        raise SystemExit(f"unknown step {step!r}")
    print("FACTS " + json.dumps(facts))
