# ruff: noqa: S311
"""The fair release's side of `make bench` inside Kezek (bench/release.py drives it over HTTP).

`python -m bench.release_data COMMAND WORK` with Kezek's settings on the bench database:

- `seed`: CARRIERS carriers through Kezek's services (money, VEHICLES trucks, a driver and a
  personal API token each) and a bot carrier with BOT_VEHICLES trucks; draw policies
  (`policy_update`) for the intake, fairness and draw checkpoints with a release moment a minute
  ago, hour and quota overrides for the fairness and draw days, and their windows made by
  `windows_schedule` as it would have run two minutes ago (so they are open now); a first-come
  policy for the fairness scenario's first-come checkpoint; DRAW_REQUESTS live requests in the
  draw window (rows and audit events as `request_create` writes them, in bulk); the intake
  requests as Lua tables for wrk and the fairness clients as JSON. Prints its facts as JSON.
- `check`: what the intake and the fairness clients left: requests per window, per carrier,
  the F3 cap; bookings of the first-come day per carrier.
- `draws`: the fairness window drawn DRAWS times, each with a fresh secret (and its
  commitment) in a transaction rolled back afterwards, each checked with `verify_document`.
- `draw`: `window_draw` of the draw window, timed, committed; what it wrote.
- `profile`: one request placed through Django's test client (the whole middleware stack),
  its queries and where its CPU goes, in a transaction rolled back afterwards.
"""

import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import secrets
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import OperationalError, connection, connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from auth2fa.models import ApiToken  # noqa: E402
from auth2fa.services import api_token_issue  # noqa: E402
from bookings.models import Booking  # noqa: E402
from bookings.services import booking_charge  # noqa: E402
from carriers.models import Carrier, Member  # noqa: E402
from carriers.validators import first_valid_iin_bin_from  # noqa: E402
from checkpoints import capacity  # noqa: E402
from checkpoints.models import Checkpoint, HourOverride, QuotaOverride  # noqa: E402
from checkpoints.services import capacity_refresh  # noqa: E402
from core import audit, clock  # noqa: E402
from core.clock import ALMATY  # noqa: E402
from core.models import AuditEvent  # noqa: E402
from deposits import services as ledger  # noqa: E402
from deposits.models import Transfer  # noqa: E402
from notify.models import Message  # noqa: E402
from release import draw, selectors, services  # noqa: E402
from release.models import ReleaseMode, ReleaseRequest, ReleaseWindow  # noqa: E402
from vehicles import services as fleet  # noqa: E402

CARRIERS = int(os.environ.get("BENCH_RELEASE_CARRIERS", "1000"))
VEHICLES = 10  # per carrier: the draw's 10 000 requests need 10 000 trucks
BOT_VEHICLES = 100  # enough to ask for every place of the fairness day
TOP_UP = Decimal("5000000")
BOT_TOP_UP = Decimal("100000000")
DIRECTION = "exit"
# Each scenario in a country of its own: B6 counts a vehicle once per country.
INTAKE = {200: ("ATAMEKEN", 5), 1000: ("KURMANGAZY", 2)}  # clients: (checkpoint, requests each)
FAIR_DRAW = "KALZHAT"
FAIR_FIRST_COME = "KEGEN"
FAIR_HOURS = range(2, 22)  # 20 hours of 5 places: 100 places, F3's cap is then 10
FAIR_PLACES_PER_HOUR = 5
DRAW = "TEMIR-BABA"
DRAW_REQUESTS = int(os.environ.get("BENCH_DRAW_REQUESTS", "10000"))
DRAW_PLACES_PER_HOUR = 650
WINDOW_MINUTES = 120
DAYS_BEFORE = 29
DRAWS = int(os.environ.get("BENCH_FAIR_DRAWS", "20"))
# And recomputed from the published data with release.draw's functions, fresh secrets each.
RECOMPUTED = int(os.environ.get("BENCH_FAIR_RECOMPUTED", "2000"))
# The draw of DRAW_REQUESTS is cancelled (its transaction rolled back) after this long.
DRAW_TIMEOUT_S = float(os.environ.get("BENCH_DRAW_TIMEOUT", "300"))
# When carriers like to cross (the draw's requests name a first hour by these weights and the
# three hours either side after it, nearest first).
HOUR_WEIGHTS = [1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 8, 7, 7, 7, 7, 6, 5, 4, 3, 2, 2, 1, 1]


def _carrier(n: int, *, vehicles: int, top_up: Decimal) -> dict:
    """Carrier n of the release scenarios, through the services as bench/seed.py makes its own
    (a BIN, an e-mail, VINs of their own: no B6 meeting with the other scenarios' trucks)."""
    user = get_user_model().objects.create_user(
        f"release{n}@bench.kezek.kz",
        None,
        full_name=f"Release Carrier {n}",
        phone=f"+7705{n:07d}",
        # Half the owners have a confirmed phone: they are told of their draws' outcomes.
        phone_verified_at=clock.now() if n % 2 == 0 else None,
    )
    carrier = Carrier.objects.create(
        kind="company",
        iin_bin=first_valid_iin_bin_from(30_000_000_000 + n * 7),
        name=f"Release {n} LLP",
        confirmed_at=clock.now(),
    )
    member = Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=top_up, bank_reference=f"BENCH-REL-{n}")
    trucks = []
    for v in range(vehicles):
        truck = fleet.vehicle_register(
            member=member,
            plate=f"{v:03d}REL{1 + v // 1000:02d}",
            vin=f"XTR{n:06d}0{v:07d}",
            kind="truck",
            registration_country="KZ",
        )
        trucks.append((truck.pk, truck.vin))
    driver = fleet.driver_register(
        member=member,
        full_name=f"Release Driver {n}",
        passport_number=f"R{n:07d}",
        citizenship="KZ",
        phone="+77019990000",
    )
    token = api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL, name="bench").secret
    return {
        "carrier": carrier.pk,
        "user": user.pk,
        "token": token,
        "trucks": trucks,
        "driver": driver.pk,
    }


def _overrides(code: str, day: dt.date, per_hour: dict[int, int]) -> None:
    """The day's regular places set hour by hour, and no priority quota (C2): every place of
    the day is one of the hours'."""
    checkpoint = Checkpoint.objects.get(code=code)
    HourOverride.objects.bulk_create(
        HourOverride(
            checkpoint=checkpoint,
            direction=DIRECTION,
            date=day,
            hour=hour,
            capacity=places,
            note="bench: fair release",
        )
        for hour, places in per_hour.items()
    )
    QuotaOverride.objects.bulk_create(
        QuotaOverride(
            checkpoint=checkpoint,
            direction=DIRECTION,
            date=day,
            service=kind,
            capacity=0,
            note="bench: fair release",
        )
        for kind in capacity.PRIORITY
    )
    capacity_refresh(checkpoint=checkpoint, direction=DIRECTION, dates=[day])


def _lua(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    lines = ["return {"]
    lines += ["{" + ",".join(f"[==[{part}]==]" for part in row) + "}," for row in rows]
    path.write_text("\n".join([*lines, "}"]) + "\n")


def _body(code: str, day: dt.date, hours: list[int], truck: int, driver: int) -> str:
    return json.dumps(
        {
            "checkpoint": code,
            "direction": DIRECTION,
            "day": day.isoformat(),
            "service": "regular",
            "hours": hours,
            "vehicle": truck,
            "drivers": [driver],
        },
        separators=(",", ":"),
    )


def _preferences(rng: random.Random, hours: list[int]) -> list[int]:
    """Every hour of `hours`, a random one first, then the others from it on, round."""
    first = rng.randrange(len(hours))
    return hours[first:] + hours[:first]


def _draw_hours(rng: random.Random) -> list[int]:
    first = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
    near = [first]
    for step in (1, 2, 3):
        near += [hour for hour in (first - step, first + step) if 0 <= hour <= 23]
    return near


def _draw_requests(window: ReleaseWindow, carriers: list[dict], rng: random.Random) -> int:
    """DRAW_REQUESTS live requests in the draw window, the rows and audit events that
    `request_create` writes, in bulk: the checks it makes pass by construction (fresh trucks,
    a driver, money, within F3's cap of the window)."""
    now = clock.now()
    users = get_user_model().objects.in_bulk([c["user"] for c in carriers])
    made = []
    for i in range(DRAW_REQUESTS):
        carrier = carriers[i % len(carriers)]
        truck, vin = carrier["trucks"][(i // len(carriers)) % VEHICLES]
        made.append(
            ReleaseRequest(
                window=window,
                carrier_id=carrier["carrier"],
                created_by_id=carrier["user"],
                country_id=window.checkpoint.country_id,
                service="regular",
                hours=_draw_hours(rng),
                vehicle_id=truck,
                vehicle_vin=vin,
                driver_ids=[carrier["driver"]],
                salt=secrets.token_hex(16),
                created_at=now,
                changed_at=now,
            )
        )
    with transaction.atomic(), audit.batch():
        ReleaseRequest.objects.bulk_create(made, batch_size=2000)
        for request in made:
            audit.record(
                "release.request_placed",
                actor=users[request.created_by_id],
                target=request,
                after={
                    "window": request.window_id,
                    "service": request.service,
                    "hours": request.hours,
                    "vehicle_vin": request.vehicle_vin,
                    "trailer_vin": None,
                    "drivers": request.driver_ids,
                },
            )
    return len(made)


def seed(out: Path) -> dict:
    started = time.monotonic()
    rng = random.Random(19)
    operator = get_user_model().objects.get(email="operator@bench.kezek.kz")
    carriers = []
    for n in range(CARRIERS):
        with transaction.atomic(), audit.batch():
            carriers.append(_carrier(n, vehicles=VEHICLES, top_up=TOP_UP))
    with transaction.atomic(), audit.batch():
        bot = _carrier(CARRIERS, vehicles=BOT_VEHICLES, top_up=BOT_TOP_UP)
    seeded_carriers = time.monotonic() - started

    # The release moment a minute ago, the windows as `windows_schedule` made them two minutes
    # ago, when they were still to open: they are open now, for WINDOW_MINUTES.
    now = clock.now()
    opens = (now - dt.timedelta(minutes=1)).astimezone(ALMATY).replace(microsecond=0)
    day = opens.date() + dt.timedelta(days=DAYS_BEFORE)
    fair_places = dict.fromkeys(range(24), 0) | dict.fromkeys(FAIR_HOURS, FAIR_PLACES_PER_HOUR)
    _overrides(FAIR_DRAW, day, fair_places)
    _overrides(FAIR_FIRST_COME, day, fair_places)
    _overrides(DRAW, day, dict.fromkeys(range(24), DRAW_PLACES_PER_HOUR))
    draw_codes = [code for code, _n in INTAKE.values()] + [FAIR_DRAW, DRAW]
    for code in draw_codes:
        services.policy_update(
            checkpoint=Checkpoint.objects.get(code=code),
            actor=operator,
            mode=ReleaseMode.DRAW,
            days_before=DAYS_BEFORE,
            release_time=opens.time(),
            window_minutes=WINDOW_MINUTES,
        )
    services.policy_update(
        checkpoint=Checkpoint.objects.get(code=FAIR_FIRST_COME),
        actor=operator,
        mode=ReleaseMode.FIRST_COME,
    )
    services.windows_schedule(as_of=now - dt.timedelta(minutes=2))
    windows = {
        code: ReleaseWindow.objects.select_related("checkpoint").get(
            checkpoint__code=code, direction=DIRECTION, day=day
        )
        for code in draw_codes
    }
    for code, window in windows.items():
        if not window.is_open(clock.now()):
            raise SystemExit(f"the window of {code} is not open")

    # Intake: client c sends one request per truck of its first `each`, all the clients' first
    # trucks before anyone's second (so that the requests in flight are of distinct carriers).
    intake = {}
    for clients, (code, each) in INTAKE.items():
        window = windows[code]
        if window.carrier_limit < each:
            raise SystemExit(f"{code}: F3 allows {window.carrier_limit} requests, not {each}")
        hours = list(range(24))
        rows = [
            (
                "POST",
                "/api/v1/release/requests",
                carrier["token"],
                _body(code, day, _preferences(rng, hours)[:4], carrier["trucks"][v][0], c_driver),
            )
            for v in range(each)
            for carrier in carriers[:clients]
            for c_driver in [carrier["driver"]]
        ]
        _lua(out / f"intake_{clients}.lua", rows)
        intake[clients] = {
            "checkpoint": code,
            "window": window.pk,
            "requests": len(rows),
            "each": each,
            "carrier_limit": window.carrier_limit,
            "places": selectors.day_places(
                capacity.plan_of_day(checkpoint=window.checkpoint, direction=DIRECTION, date=day)
            ),
        }

    # Fairness: every client's trucks and preferences, for bench/release.py's clients.
    fair_hours = list(FAIR_HOURS)
    fair_window = windows[FAIR_DRAW]
    clients = [
        {
            "carrier": c["carrier"],
            "token": c["token"],
            "truck": c["trucks"][0][0],
            "driver": c["driver"],
            "hours": _preferences(rng, fair_hours),
        }
        for c in carriers[: CARRIERS - 1]
    ]
    fairness = {
        "day": day.isoformat(),
        "direction": DIRECTION,
        "draw_checkpoint": FAIR_DRAW,
        "first_come_checkpoint": FAIR_FIRST_COME,
        "window": fair_window.pk,
        "carrier_limit": fair_window.carrier_limit,
        "places": len(fair_hours) * FAIR_PLACES_PER_HOUR,
        "hours": fair_hours,
        "clients": clients,
        "bot": {
            "carrier": bot["carrier"],
            "token": bot["token"],
            "trucks": [pk for pk, _vin in bot["trucks"]],
            "driver": bot["driver"],
        },
    }
    (out / "fairness.json").write_text(json.dumps(fairness))

    draw_window = windows[DRAW]
    made = _draw_requests(draw_window, carriers, rng)
    _fee, _deposit, charge = booking_charge("regular", on=clock.local_today())
    facts = {
        "seconds": round(time.monotonic() - started, 1),
        "carriers_seconds": round(seeded_carriers, 1),
        "carriers": CARRIERS + 1,
        "vehicles": CARRIERS * VEHICLES + BOT_VEHICLES,
        "day": day.isoformat(),
        "opens_at": fair_window.opens_at.isoformat(),
        "closes_at": fair_window.closes_at.isoformat(),
        "charge": str(charge),
        "intake": intake,
        "fair_window": fair_window.pk,
        "fair_carrier_limit": fair_window.carrier_limit,
        "fair_places": fairness["places"],
        "bot_carrier": bot["carrier"],
        "draw_window": draw_window.pk,
        "draw_requests": made,
        "draw_places": selectors.day_places(
            capacity.plan_of_day(checkpoint=draw_window.checkpoint, direction=DIRECTION, date=day)
        ),
        "draw_carrier_limit": draw_window.carrier_limit,
    }
    (out / "release_facts.json").write_text(json.dumps(facts, indent=1))
    return facts


def _facts(out: Path) -> dict:
    return json.loads((out / "release_facts.json").read_text())


def check(out: Path) -> dict:
    """The requests the intake and the fairness clients left, and the first-come bookings."""
    facts = _facts(out)
    windows = {str(c): info["window"] for c, info in facts["intake"].items()}
    windows["fairness"] = facts["fair_window"]
    found = {}
    for name, pk in windows.items():
        window = ReleaseWindow.objects.get(pk=pk)
        rows = ReleaseRequest.objects.filter(window=window)
        per_carrier = Counter(
            rows.filter(status=ReleaseRequest.Status.LIVE).values_list("carrier_id", flat=True)
        )
        found[name] = {
            "rows": rows.count(),
            "live": sum(per_carrier.values()),
            "distinct_vehicles": rows.values("vehicle_id").distinct().count(),
            "carriers": len(per_carrier),
            "most_per_carrier": max(per_carrier.values(), default=0),
            "carrier_limit": window.carrier_limit,
            "per_carrier": {str(k): v for k, v in per_carrier.items()},
        }
    booked = Counter(
        Booking.objects.filter(
            checkpoint__code=FAIR_FIRST_COME,
            direction=DIRECTION,
            slot_start__date=dt.date.fromisoformat(facts["day"]),
            status__in=Booking.ACTIVE,
        ).values_list("carrier_id", flat=True)
    )
    found["first_come"] = {
        "booked": sum(booked.values()),
        "carriers": len(booked),
        "per_carrier": {str(k): v for k, v in booked.items()},
    }
    return found


def draws(out: Path) -> dict:
    """The fairness window drawn DRAWS times, each time as if its secret had been another: a
    fresh secret and its commitment, `window_draw` (the bookings, money, events and messages
    of the winners), the published document checked by `verify_document`, and everything
    rolled back."""
    facts = _facts(out)
    window = ReleaseWindow.objects.get(pk=facts["fair_window"])
    results = []
    for _ in range(DRAWS):
        secret = secrets.token_hex(32)
        started = time.monotonic()
        with transaction.atomic():
            ReleaseWindow.objects.filter(pk=window.pk).update(
                secret=secret, commitment=draw.commitment_of(secret)
            )
            result = services.window_draw(window_id=window.pk, as_of=window.closes_at)
            seconds = time.monotonic() - started
            drawn = ReleaseWindow.objects.select_related("checkpoint").get(pk=window.pk)
            verdict = draw.verify_document(selectors.draw_document(drawn))
            won = Counter(
                ReleaseRequest.objects.filter(
                    window=drawn, status=ReleaseRequest.Status.WON
                ).values_list("carrier_id", flat=True)
            )
            results.append(
                {
                    "seconds": round(seconds, 3),
                    "won": result.won if result else 0,
                    "skipped": result.skipped if result else 0,
                    "requests": drawn.request_count,
                    "verified": verdict.ok,
                    "problems": verdict.problems[:3],
                    "per_carrier": {str(k): v for k, v in won.items()},
                }
            )
            transaction.set_rollback(True)
    return {"draws": results, "recomputed": _recomputed(window, int(facts["bot_carrier"]))}


def _recomputed(window: ReleaseWindow, bot: int) -> dict:
    """RECOMPUTED draws of the window's live requests by release.draw's functions alone (what
    `verify_document` runs), each with a fresh secret: R from the published fields, the seed,
    the ranks, `allocate` against the places the real draws published. The bot's places in
    each."""
    rows = list(
        window.requests.filter(status=ReleaseRequest.Status.LIVE)
        .order_by("pk")
        .values_list("pk", "carrier_id", "service", "hours", "salt")
    )
    leaves = [
        draw.request_leaf(pk, draw.carrier_hash(pk, salt), s, h) for pk, _c, s, h, salt in rows
    ]
    root = draw.root_of(leaves)
    plan = capacity.plan_of_day(checkpoint=window.checkpoint, direction=DIRECTION, date=window.day)
    places = {
        draw.pool_of("regular", hour): plan.planned("regular", hour)
        for hour in plan.hours
        if plan.is_open(hour)
    }
    open_hours = [hour for hour in plan.hours if plan.is_open(hour)]
    mine = {pk for pk, carrier, *_rest in rows if carrier == bot}
    wins = []
    for _ in range(RECOMPUTED):
        seed = draw.seed_of(secrets.token_hex(32), root)
        entries = [draw.Entry(pk, s, tuple(h), draw.rank_of(seed, pk)) for pk, _c, s, h, _s in rows]
        won = draw.allocate(entries, places, open_hours)
        wins.append(sum(1 for pk in mine if won[pk] is not None))
    return {"draws": RECOMPUTED, "bot": wins, "places": sum(places.values())}


def _counts() -> dict:
    return {
        "bookings": Booking.objects.count(),
        "transfers": Transfer.objects.count(),
        "audit events": AuditEvent.objects.count(),
        "messages": Message.objects.count(),
    }


def draw_once(out: Path) -> dict:
    facts = _facts(out)
    window = ReleaseWindow.objects.get(pk=facts["draw_window"])
    before = _counts()
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(1)
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cancelled = threading.Event()

    def cancel() -> None:
        """From a connection of its own: the draw's statement running now is cancelled."""
        cancelled.set()
        other = connections.create_connection("default")
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_cancel_backend(%s)", [backend])
        other.close()

    watchdog = threading.Timer(DRAW_TIMEOUT_S, cancel)
    watchdog.start()
    started = time.monotonic()
    try:
        with connection.execute_wrapper(count):
            result = services.window_draw(window_id=window.pk, as_of=window.closes_at)
    except OperationalError as exc:
        if not cancelled.is_set():
            raise
        running = str(exc).strip().splitlines()[-1][:200]
        return {
            "window": window.pk,
            "seconds": round(time.monotonic() - started, 2),
            "queries": len(queries),
            "timed_out": True,
            "cancelled_in": running,
            "won": None,
            "unsuccessful": None,
            "skipped": None,
            "statuses": {},
            "written": dict.fromkeys(before, 0),
        }
    finally:
        watchdog.cancel()
    seconds = time.monotonic() - started
    after = _counts()
    statuses = Counter(
        ReleaseRequest.objects.filter(window=window).values_list("status", flat=True)
    )
    return {
        "window": window.pk,
        "seconds": round(seconds, 2),
        "queries": len(queries),
        "timed_out": False,
        "won": result.won if result else None,
        "unsuccessful": result.unsuccessful if result else None,
        "skipped": result.skipped if result else None,
        "statuses": dict(statuses),
        "written": {key: after[key] - before[key] for key in before},
    }


def profile(out: Path) -> dict:
    """One request of a carrier that placed none in the intake windows, through the test
    client with a bearer token (as wrk sends it), twice: the first warms the process (imports,
    caches), the second is measured; then rolled back."""
    facts = _facts(out)
    intake = facts["intake"]["200"]
    window = ReleaseWindow.objects.select_related("checkpoint").get(pk=intake["window"])
    placed = set(ReleaseRequest.objects.filter(window=window).values_list("carrier_id", flat=True))
    member = (
        Member.objects.select_related("carrier", "user")
        .exclude(carrier_id__in=placed)
        .filter(user__email__startswith="release")
        .first()
    )
    token = api_token_issue(user=member.user, kind=ApiToken.Kind.PERSONAL, name="profile").secret
    trucks = list(member.carrier.vehicles.order_by("pk").values_list("pk", flat=True))
    driver = member.carrier.drivers.values_list("pk", flat=True).first()
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
    answers, text = [], io.StringIO()
    with transaction.atomic():
        for attempt, truck in enumerate(trucks[:2]):
            body = _body(window.checkpoint.code, window.day, [8, 9, 10], truck, driver)
            profiler = cProfile.Profile()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                profiler.enable()
                answer = client.post(
                    "/api/v1/release/requests", body, content_type="application/json"
                )
                profiler.disable()
                ms = 1000 * (time.perf_counter() - started)
            answers.append({"status": answer.status_code, "ms": round(ms, 2)})
            if attempt == 1:
                sql = queries.captured_queries
                text.write(f"{len(sql)} queries, {ms:.1f} ms under the profiler\n")
                text.writelines(
                    f"  {float(q['time']) * 1000:6.2f} ms  {q['sql'][:200]}\n"
                    for q in queries.captured_queries
                )
                stats = pstats.Stats(profiler, stream=text)
                stats.sort_stats("cumulative").print_stats(45)
                stats.sort_stats("tottime").print_stats(25)
        # Then unprofiled, warm: the mean wall and CPU time of a request in this process, and the
        # share of it spent waiting for PostgreSQL.
        timed = trucks[2:22]
        wall = cpu = in_sql = 0.0
        for truck in timed:
            body = _body(window.checkpoint.code, window.day, [8, 9, 10], truck, driver)
            with CaptureQueriesContext(connection) as queries:
                started, started_cpu = time.perf_counter(), time.process_time()
                client.post("/api/v1/release/requests", body, content_type="application/json")
                wall += time.perf_counter() - started
                cpu += time.process_time() - started_cpu
            in_sql += sum(float(q["time"]) for q in queries.captured_queries)
        n = max(len(timed), 1)
        text.write(
            f"\n{len(timed)} requests after these: {1000 * wall / n:.1f} ms each, "
            f"{1000 * cpu / n:.1f} ms of CPU, {1000 * in_sql / n:.1f} ms in the database "
            "driver's execute (SQL round trips and PostgreSQL's work)\n\n"
        )
        answers.append(
            {
                "timed": len(timed),
                "ms": round(1000 * wall / n, 1),
                "cpu_ms": round(1000 * cpu / n, 1),
            }
        )
        transaction.set_rollback(True)
    (out / "request_profile.txt").write_text(text.getvalue())
    return {"answers": answers}


COMMANDS = {
    "seed": seed,
    "check": check,
    "draws": draws,
    "draw": draw_once,
    "profile": profile,
}

if __name__ == "__main__":
    result = COMMANDS[sys.argv[1]](Path(sys.argv[2]))
    print(json.dumps(result))
