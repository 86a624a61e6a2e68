"""The slot rush over real HTTP (PostgreSQL, live server, parallel clients).

64 carriers, each with its own truck and money, ask for the same hour that has 5 places:
exactly 5 bookings are made, every other answer is a clean 409 slot_full, the counter equals
the bookings and the ledger is balanced. One truck asked for at two checkpoints of the same
country at once gets one booking (B6). The control takes the conditional update away and shows
the oversell it prevents.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import translation

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from bookings.models import Booking
from carriers.models import Carrier, Member
from carriers.validators import first_valid_iin_bin_from
from checkpoints import services as slots
from checkpoints.models import Checkpoint, HourOverride, SlotCounter
from checkpoints.services import reference_checkpoints_load
from core import clock
from deposits import services as ledger
from deposits.selectors import ledger_check
from tests.fees.factories import fees_in_force_today
from tests.worlds import at
from vehicles import services as fleet

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 64
PLACES = 5


def _iin(n: int) -> str:
    """A checksum-valid 12-digit number for test carrier n."""
    return first_valid_iin_bin_from(10_000_000_000 + n * 7)


def _carrier_with_truck(n: int) -> tuple[str, int, int]:
    """A carrier with money, one truck and one driver; returns (token, truck id, driver id)."""
    user = get_user_model().objects.create_user(
        f"racer{n}@example.kz", "x", full_name=f"Racer {n}", phone=f"+7701{n:07d}"
    )
    carrier = Carrier.objects.create(
        kind="company", iin_bin=_iin(n), name=f"Racer {n} LLP", confirmed_at=clock.now()
    )
    member = Member.objects.create(carrier=carrier, user=user, role="owner")
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=Decimal("1000000"), bank_reference=f"RACE-{n}")
    truck = fleet.vehicle_register(
        member=member,
        plate=f"{100 + n:03d}RAC02",
        vin=f"XTA2109901{n:07d}",
        kind="truck",
        registration_country="KZ",
    )
    driver = fleet.driver_register(
        member=member,
        full_name=f"Driver {n}",
        passport_number=f"N{n:07d}",
        citizenship="KZ",
        phone="+77019990000",
    )
    token = api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL).secret
    return token, truck.pk, driver.pk


@pytest.fixture
def rush(live_server, clock):
    with translation.override("en"):
        reference_checkpoints_load()
        fees_in_force_today()
    checkpoint = Checkpoint.objects.get(code="KORDAI")
    start = at(1, 9)
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=start.date(), hour=9, capacity=PLACES
    )
    racers = [_carrier_with_truck(n) for n in range(CLIENTS)]
    return live_server.url, start, racers


def _post(url: str, token: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - the live test server on 127.0.0.1
        url,
        data=json.dumps(payload).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - our server
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _race(calls) -> list[tuple[int, str]]:
    barrier = threading.Barrier(len(calls))
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def run(call):
        barrier.wait()
        status, body = call()
        with lock:
            results.append((status, body.get("error", {}).get("code", "booked")))

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connections.close_all()
    return results


def _booking(start, truck: int, driver: int, checkpoint: str = "KORDAI") -> dict:
    return {
        "checkpoint": checkpoint,
        "direction": "exit",
        "service": "regular",
        "slot_start": start.isoformat(),
        "vehicle": truck,
        "drivers": [driver],
    }


def test_c6_sixty_four_clients_race_for_five_places(rush):
    base, start, racers = rush
    results = _race(
        [
            (
                lambda t=token, v=truck, d=driver: _post(
                    f"{base}/api/v1/bookings", t, _booking(start, v, d)
                )
            )
            for token, truck, driver in racers
        ]
    )
    tally = Counter(results)
    assert tally == {(201, "booked"): PLACES, (409, "slot_full"): CLIENTS - PLACES}, tally
    counter = SlotCounter.objects.get(kind="regular", hour=9, date=start.date())
    assert (
        counter.taken
        == Booking.objects.filter(counter=counter, status="confirmed").count()
        == PLACES
    )
    report = ledger_check()
    assert report.ok, report.problems


def test_b6_one_truck_raced_at_two_checkpoints_of_one_country_gets_one_booking(rush):
    base, start, racers = rush
    token, truck, driver = racers[0]
    calls = [
        (lambda c=code: _post(f"{base}/api/v1/bookings", token, _booking(start, truck, driver, c)))
        for code in ["KORDAI", "KARASU"] * 8
    ]
    tally = Counter(_race(calls))
    assert tally[(201, "booked")] == 1, tally
    assert set(tally) <= {(201, "booked"), (409, "active_booking_exists")}, tally
    assert Booking.objects.filter(status="confirmed").count() == 1
    assert SlotCounter.objects.filter(taken__gt=0).count() == 1
    assert ledger_check().ok


def test_c6_control_without_the_conditional_update_the_rush_oversells(rush, monkeypatch):
    def naive_take_place(key) -> SlotCounter | None:
        row = SlotCounter.objects.filter(**key).values_list("taken", "capacity").first()
        if row is None or row[0] >= row[1]:
            return None
        time.sleep(0.02)  # the window between reading and writing
        SlotCounter.objects.filter(**key).update(taken=row[0] + 1)
        return SlotCounter.objects.get(**key)

    monkeypatch.setattr(slots, "_take_place", naive_take_place)
    base, start, racers = rush
    results = _race(
        [
            (
                lambda t=token, v=truck, d=driver: _post(
                    f"{base}/api/v1/bookings", t, _booking(start, v, d)
                )
            )
            for token, truck, driver in racers[:20]
        ]
    )
    booked = Counter(results)[(201, "booked")]
    assert booked > PLACES, results
