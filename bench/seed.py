"""Prepare the bench database through Kezek's own services and write the load generator's input.

Run by bench/run.py with Kezek's settings (DJANGO_SETTINGS_MODULE=config.settings) on the bench
database, after `migrate` and `load_reference_data`:

- CARRIERS carriers, each with money (a bank top-up), VEHICLES_PER_CARRIER trucks, a driver and
  a personal API token; a staff operator to mark arrivals;
- the rush: one hour of RUSH_HOURS hours at KORDAI (exit) on one day gets an override of
  RUSH_PLACES_PER_HOUR places (100 in all), and each carrier's first truck asks for one of them;
- the spread: every other (truck, country) pair books once, across many checkpoints, days and
  hours, so no booking meets another on a vehicle (B6) or a closed or full hour (it counts
  its own bookings against each hour's planned places);
- the board: vehicles booked for the next hours at the board's checkpoint and marked arrived,
  so the board shows a queue.

The requests are written as Lua tables (bench/results/work/*.lua) that bench/lua/*.lua read.
"""

import datetime as dt
import json
import os
import sys
from decimal import Decimal
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402

from auth2fa.models import ApiToken  # noqa: E402
from auth2fa.services import api_token_issue  # noqa: E402
from bookings import services as bookings  # noqa: E402
from carriers.models import Carrier, Member  # noqa: E402
from carriers.validators import first_valid_iin_bin_from  # noqa: E402
from checkpoint_queue import services as queue  # noqa: E402
from checkpoints import capacity  # noqa: E402
from checkpoints.models import Checkpoint, HourOverride  # noqa: E402
from checkpoints.services import capacity_refresh  # noqa: E402
from core import clock  # noqa: E402
from core.clock import ALMATY  # noqa: E402
from deposits import services as ledger  # noqa: E402
from vehicles import services as fleet  # noqa: E402

CARRIERS = 200
VEHICLES_PER_CARRIER = 5
TOP_UP = Decimal("5000000")
RUSH_CHECKPOINT = "KORDAI"
RUSH_HOURS = range(2, 22)  # 20 hours
RUSH_PLACES_PER_HOUR = 5  # 100 places in all
BOARD_CHECKPOINT = "KARASU"
BOARD_ARRIVED = 24
AVAILABILITY_CHECKPOINTS = ("KORDAI", "KARASU", "NUR-ZHOLY", "DOSTYK", "B-KONYSBAYEV")
PLATE_LETTERS = ("ABC", "ABE", "ABH", "ABK", "ABM", "ABO", "ABP", "ABT")


def _iin(n: int) -> str:
    """A checksum-valid 12-digit BIN for bench carrier n."""
    return first_valid_iin_bin_from(20_000_000_000 + n * 7)


def _carrier(n: int) -> dict:
    user = get_user_model().objects.create_user(
        f"bench{n}@bench.kezek.kz", None, full_name=f"Bench Carrier {n}", phone=f"+7702{n:07d}"
    )
    # A7: confirmed as if its owner had signed with the company's EDS.
    carrier = Carrier.objects.create(
        kind="company", iin_bin=_iin(n), name=f"Bench {n} LLP", confirmed_at=clock.now()
    )
    member = Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=TOP_UP, bank_reference=f"BENCH-{n}")
    trucks = []
    for v in range(VEHICLES_PER_CARRIER):
        number = n * VEHICLES_PER_CARRIER + v
        truck = fleet.vehicle_register(
            member=member,
            plate=f"{number % 1000:03d}{PLATE_LETTERS[number // 1000]}02",
            vin=f"XTB2109901{number:07d}",
            kind="truck",
            registration_country="KZ",
        )
        trucks.append(truck.pk)
    driver = fleet.driver_register(
        member=member,
        full_name=f"Bench Driver {n}",
        passport_number=f"B{n:07d}",
        citizenship="KZ",
        phone="+77019990000",
    )
    token = api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL, name="bench").secret
    return {"member": member, "token": token, "trucks": trucks, "driver": driver.pk}


def _body(checkpoint: str, direction: str, start: dt.datetime, truck: int, driver: int) -> str:
    return json.dumps(
        {
            "checkpoint": checkpoint,
            "direction": direction,
            "service": "regular",
            "slot_start": start.isoformat(),
            "vehicle": truck,
            "drivers": [driver],
        },
        separators=(",", ":"),
    )


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def _write_requests(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """rows: (method, path, bearer token or "", body or "")."""
    lines = ["return {"]
    for method, url, token, body in rows:
        lines.append(
            "{" + ",".join(_lua_string(part) for part in (method, url, token, body)) + "},"
        )
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")


def _next_hours(now: dt.datetime, count: int) -> list[dt.datetime]:
    earliest, _latest = capacity.booking_window(now)
    first = earliest.astimezone(ALMATY).replace(minute=0, second=0, microsecond=0)
    if first < earliest:
        first += capacity.SLOT_LENGTH
    return [first + i * capacity.SLOT_LENGTH for i in range(count)]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    today = clock.local_date(now)
    rush_date = today + dt.timedelta(days=2)
    kordai = Checkpoint.objects.get(code=RUSH_CHECKPOINT)
    with transaction.atomic():
        for hour in RUSH_HOURS:
            HourOverride.objects.create(
                checkpoint=kordai,
                direction="exit",
                date=rush_date,
                hour=hour,
                capacity=RUSH_PLACES_PER_HOUR,
                note="bench: the slot rush",
            )
        capacity_refresh(checkpoint=kordai, direction="exit", dates=[rush_date])

    carriers = [_carrier(n) for n in range(CARRIERS)]
    operator = get_user_model().objects.create_superuser(
        "operator@bench.kezek.kz", None, full_name="Bench Operator", phone="+77029999999"
    )

    # The rush: carrier n's first truck asks for hour n % 20: 10 clients for each 5 places.
    hours = list(RUSH_HOURS)
    rush = []
    for n, carrier in enumerate(carriers):
        start = dt.datetime.combine(rush_date, dt.time(hours[n % len(hours)]), tzinfo=ALMATY)
        body = _body(RUSH_CHECKPOINT, "exit", start, carrier["trucks"][0], carrier["driver"])
        rush.append(("POST", "/api/v1/bookings", carrier["token"], body))
    _write_requests(out / "rush.lua", rush)

    # The board: vehicles for the next bookable hours at its checkpoint, checked in (Q1).
    board_hours = _next_hours(now, 2)
    board_cp = Checkpoint.objects.get(code=BOARD_CHECKPOINT)
    for i in range(BOARD_ARRIVED):
        carrier = carriers[i]
        booking = bookings.booking_create(
            member=carrier["member"],
            request=bookings.BookingRequest(
                checkpoint_code=BOARD_CHECKPOINT,
                direction=("exit", "entry")[i % 2],
                service="regular",
                slot_start=board_hours[(i // 2) % len(board_hours)],
                vehicle_id=carrier["trucks"][1],
                trailer_id=None,
                driver_ids=[carrier["driver"]],
            ),
        )
        queue.booking_mark_arrived(booking=booking, actor=operator)
    used = {(carriers[i]["trucks"][1], board_cp.country_id) for i in range(BOARD_ARRIVED)}

    # The spread: each (truck, country) pair once, over checkpoints, directions, days, hours.
    by_country: dict[str, list[str]] = {}
    for code, country in (
        Checkpoint.objects.bookable().order_by("code").values_list("code", "country_id")
    ):
        by_country.setdefault(country, []).append(code)
    countries = sorted(by_country)
    days = [today + dt.timedelta(days=d) for d in range(3, 27)]
    checkpoints = {row.code: row for row in Checkpoint.objects.bookable()}
    plans: dict[tuple[str, str, dt.date], capacity.DayPlan] = {}
    booked: dict[tuple[str, str, dt.date, int], int] = {}

    def free_hour(code: str, direction: str, day: dt.date, wanted: int) -> int | None:
        """`wanted` or the next hour of the day with a place left, counting the spread's own
        bookings: some checkpoints open only part of the day or have a place or two an hour,
        and the spread must never meet a closed or full hour."""
        key = (code, direction, day)
        if key not in plans:
            plans[key] = capacity.plan_of_day(
                checkpoint=checkpoints[code], direction=direction, date=day
            )
        plan = plans[key]
        for step in range(24):
            hour = (wanted + step) % 24
            if plan.is_open(hour) and booked.get((*key, hour), 0) < plan.planned("regular", hour):
                booked[(*key, hour)] = booked.get((*key, hour), 0) + 1
                return hour
        return None

    spread = []
    index = 0
    for country in countries:
        for v in range(VEHICLES_PER_CARRIER):
            for carrier in carriers:
                truck = carrier["trucks"][v]
                if (country == kordai.country_id and v == 0) or (truck, country) in used:
                    continue
                codes = by_country[country]
                code = codes[index % len(codes)]
                day = days[(index // len(codes)) % len(days)]
                direction = ("exit", "entry")[(index // 3) % 2]
                hour = free_hour(code, direction, day, (index * 7) % 24)
                index += 1
                if hour is None:
                    continue
                start = dt.datetime.combine(day, dt.time(hour), tzinfo=ALMATY)
                body = _body(code, direction, start, truck, carrier["driver"])
                spread.append(("POST", "/api/v1/bookings", carrier["token"], body))
    # Interleave countries and carriers so that concurrent requests rarely share a carrier.
    spread = spread[0::2] + spread[1::2]
    _write_requests(out / "spread.lua", spread)

    week = [today + dt.timedelta(days=d) for d in range(1, 8)]
    reads = [
        ("GET", f"/api/v1/checkpoints/{code}/slots?direction={direction}&date={day}", "", "")
        for code in AVAILABILITY_CHECKPOINTS
        for direction in ("exit", "entry")
        for day in week
    ]
    _write_requests(out / "availability.lua", reads)
    _write_requests(out / "board_page.lua", [("GET", f"/board/{BOARD_CHECKPOINT}/", "", "")])
    _write_requests(
        out / "board_api.lua",
        [("GET", f"/api/v1/checkpoints/{BOARD_CHECKPOINT}/queue", "", "")],
    )

    facts = {
        "carriers": CARRIERS,
        "vehicles": CARRIERS * VEHICLES_PER_CARRIER,
        "rush_date": rush_date.isoformat(),
        "rush_checkpoint": RUSH_CHECKPOINT,
        "rush_places": RUSH_PLACES_PER_HOUR * len(hours),
        "rush_clients": len(rush),
        "spread_requests": len(spread),
        "board_checkpoint": BOARD_CHECKPOINT,
        "board_arrived": BOARD_ARRIVED,
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=1))
    print(json.dumps(facts))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
