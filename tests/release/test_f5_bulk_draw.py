"""F5 in bulk: the draw books all its winners in one step (`bookings_create_checked`, rows by
COPY on PostgreSQL from 200 of a kind). What it writes must be what booking the winners one by
one in rank order writes (`booking_create`, the control): the same bookings, ledger, audit
events, messages and request outcomes. A carrier whose money runs out part-way is skipped from
then on and the places go on down the ranks; after a draw of some hundred requests the ledger,
the counters and the published draw check out. Runs on SQLite and on PostgreSQL."""

import datetime as dt
import hashlib
import io
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection, transaction

from bookings.models import Booking, BookingDriver
from bookings.services import booking_charge
from checkpoints.models import HourOverride, SlotCounter
from checkpoints.public_reads import day_key
from core import audit, clock
from core.models import AuditEvent
from deposits import services as ledger
from deposits.models import Account, Hold, PaymentAwaitingBudget, Transfer
from deposits.selectors import available_balance
from notify.models import Message
from release import draw, services
from release.models import ReleaseMode, ReleaseRequest, ReleaseWindow
from tests.release.helpers import CLOSES, DAY, OPENS
from tests.worlds import at, book, make_other_world
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

# The rows a booking writes; compared row for row between the bulk draw and the control.
WRITTEN = [Booking, BookingDriver, Transfer, PaymentAwaitingBudget, Hold, Message]


def window_with_places(world, clock, places: dict[int, int]) -> ReleaseWindow:
    """KORDAI on the draw; `places` {hour: places} of DAY (exit); the clock in the window."""
    for hour, count in places.items():
        HourOverride.objects.create(
            checkpoint=world.checkpoint, direction="exit", date=DAY, hour=hour, capacity=count
        )
    services.policy_update(
        checkpoint=world.checkpoint, actor=None, mode=ReleaseMode.DRAW, release_time=dt.time(11)
    )
    services.windows_schedule()
    clock.move_to(OPENS + dt.timedelta(minutes=5))
    return ReleaseWindow.objects.get(checkpoint=world.checkpoint, direction="exit", day=DAY)


def fleet(world, prefix: str, count: int) -> list[Vehicle]:
    """`count` more trucks of the world's carrier, copies of its truck."""
    base = world.truck
    rows = []
    for i in range(count):
        truck = Vehicle.objects.get(pk=base.pk)
        truck.pk = None
        truck.vin = f"XTB21099{prefix}{i:07d}"
        truck.plate = f"{100 + i % 900}{'ABCDEFGHJK'[i // 900]}{prefix}02"
        rows.append(truck)
    return Vehicle.objects.bulk_create(rows)


def requests_of(window, world, trucks, hours_of) -> list[ReleaseRequest]:
    """Live requests of `world`'s carrier for `trucks` (what `request_create` stores, written
    at once: a few hundred through the service would take most of the test's time)."""
    now = clock.now()
    return ReleaseRequest.objects.bulk_create(
        [
            ReleaseRequest(
                window=window,
                carrier=world.carrier,
                created_by=world.member.user,
                country_id=window.checkpoint.country_id,
                service="regular",
                hours=list(hours_of(i)),
                vehicle=truck,
                vehicle_vin=truck.vin,
                driver_ids=[world.drivers[0].pk],
                # Fixed, so that a seed gives the same ranks on every run.
                salt=hashlib.sha256(truck.vin.encode()).hexdigest()[:32],
                status="live",
                created_at=now,
                changed_at=now,
            )
            for i, truck in enumerate(trucks)
        ]
    )


def required() -> Decimal:
    return booking_charge("regular", on=clock.local_today())[2]


def spend_all_but(world, left: Decimal) -> None:
    """The carrier's available balance brought down to `left` by a refund request (P3)."""
    ledger.refund_request(
        carrier=world.carrier,
        amount=available_balance(world.carrier) - left,
        iban="KZ86125KZT5004100100",
        requested_by=world.member.user,
    )


def secret_of(window, seed: int) -> None:
    secret = hashlib.sha256(f"seed {seed}".encode()).hexdigest()
    ReleaseWindow.objects.filter(pk=window.pk).update(
        secret=secret, commitment=draw.commitment_of(secret)
    )


def one_by_one(window, by_id, entries, places, open_hours, skipped, precheck):
    """The control for `_winners_book`: random serial dictatorship, each winner booked at its
    turn by `booking_create` (`_book`), a refused one skipped."""
    left = dict(places)
    won = {}
    for entry in sorted(entries, key=lambda e: (e.rank, e.id)):
        won[entry.id] = None
        for hour in entry.hours:
            if entry.service != "regular" and hour not in open_hours:
                continue
            pool = draw.pool_of(entry.service, hour)
            if left.get(pool, 0) <= 0:
                continue
            refusal = services._book(by_id[entry.id], window, hour)
            if refusal is not None:
                # A booking refused by the database's B6 constraint used up an id: a gap in
                # the sequence, not a row; taken back so that the ids stay comparable.
                sequences_reset()
                skipped[entry.id] = refusal
                break
            left[pool] -= 1
            won[entry.id] = hour
            break
    return won


def what_was_written(window) -> dict:
    """Everything the draw leaves, ids included (the runs start from the same ids)."""
    audit_fields = [
        f.attname
        for f in AuditEvent._meta.concrete_fields
        if f.attname not in ("id", "person_salt", "event_hash")
    ]
    return {
        "requests": list(
            ReleaseRequest.objects.filter(window=window)
            .order_by("pk")
            .values_list("pk", "status", "skip_reason", "hour_won", "rank", "booking_id")
        ),
        **{model.__name__: list(model.objects.order_by("pk").values()) for model in WRITTEN},
        "balances": list(Account.objects.order_by("pk").values_list("pk", "balance")),
        "counters": list(SlotCounter.objects.order_by("pk").values_list("pk", "taken")),
        # The events' order differs: the bulk step records a kind of row at a time. Salts
        # (and so hashes) are random per event; the hashes are compared in tests/core.
        "audit": sorted(
            (tuple(str(v) for v in row) for row in AuditEvent.objects.values_list(*audit_fields)),
        ),
    }


def drawn_and_undone(window, monkeypatch, *, control: bool) -> dict:
    """The draw of `window` run, what it wrote read, then all of it rolled back, the tables'
    id sequences included (PostgreSQL keeps them), so the next run starts from the same ids."""
    with monkeypatch.context() as patched:
        if control:
            patched.setattr(services, "_winners_book", one_by_one)
        point = transaction.savepoint()
        result = services.window_draw(window_id=window.pk)
        written = what_was_written(window)
        written["result"] = (result.won, result.unsuccessful, result.skipped)
        transaction.savepoint_rollback(point)
    sequences_reset()
    return written


def sequences_reset() -> None:
    """The id sequences of the rows a draw writes set back to the largest id (PostgreSQL's
    sequences ignore a rollback; SQLite's AUTOINCREMENT is rolled back with the rows)."""
    if connection.vendor == "postgresql":
        models = [*WRITTEN, AuditEvent, ReleaseRequest]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)


def world_of_two_carriers(world, fake_twilio, clock, places, mine, theirs, their_money_for):
    """A window with `places`; `mine` and `theirs` requests (hours of each) of two carriers,
    the second with money for `their_money_for` bookings."""
    window = window_with_places(world, clock, places)
    other = make_other_world(fake_twilio)
    world.top_up("100000000.00")
    other.top_up("100000000.00", reference="TOPUP-OTHER")
    mine_trucks = fleet(world, "AA", len(mine))
    their_trucks = fleet(other, "BB", len(theirs))
    requests_of(window, world, mine_trucks, lambda i: mine[i])
    requests_of(window, other, their_trucks, lambda i: theirs[i])
    spend_all_but(other, required() * their_money_for)
    return window, other, mine_trucks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_f5_the_bulk_draw_writes_what_booking_one_by_one_writes(
    world, fake_twilio, clock, monkeypatch, seed
):
    hours = [(9, 10), (10,), (9, 11), (11, 9), (10, 11)]
    mine = [hours[i % 5] for i in range(9)]
    mine[4] = (12,)  # alone at 12:00: it would win, but its truck gets booked meanwhile
    window, _other, mine_trucks = world_of_two_carriers(
        world,
        fake_twilio,
        clock,
        # 13:00 is theirs alone: two places for three requests and money for one booking, so
        # whatever the ranks, a second of theirs reaches a place and cannot pay.
        places={9: 2, 10: 2, 11: 2, 12: 1, 13: 2},
        mine=mine,
        theirs=[hours[(i + 2) % 5] for i in range(5)] + [(13,)] * 3,
        their_money_for=1,
    )
    # Its truck is booked first-come before the draw (B6): the request is skipped.
    book(world, vehicle=mine_trucks[4], start=at(1, 9))
    secret_of(window, seed)
    clock.move_to(CLOSES)
    bulk = drawn_and_undone(window, monkeypatch, control=False)
    control = drawn_and_undone(window, monkeypatch, control=True)
    outcomes = {status for _pk, status, *_rest in bulk["requests"]}
    # The draw had all three outcomes to get right.
    assert {"won", "skipped", "unsuccessful"} <= outcomes, bulk["requests"]
    assert {r[2] for r in bulk["requests"]} >= {"insufficient_funds", "active_booking_exists"}
    assert bulk["Booking"], "nobody won"
    for part in control:
        assert bulk[part] == control[part], part


def test_f5_a_carrier_whose_money_runs_out_part_way_is_skipped_and_the_places_go_down_the_ranks(
    world, fake_twilio, clock
):
    places = 30
    window, other, _trucks = world_of_two_carriers(
        world,
        fake_twilio,
        clock,
        places={9: places},
        mine=[(9,)] * places,
        theirs=[(9,)] * places,
        their_money_for=10,
    )
    clock.move_to(CLOSES)
    result = services.window_draw(window_id=window.pk)
    requests = sorted(ReleaseRequest.objects.filter(window=window), key=lambda r: (r.rank, r.pk))
    # In rank order: theirs win while their money lasts, then are skipped; mine take the rest.
    left, money, expected = places, 10, {}
    for request in requests:
        if left == 0:
            expected[request.pk] = ("unsuccessful", "")
        elif request.carrier_id == other.carrier.pk and money == 0:
            expected[request.pk] = ("skipped", "insufficient_funds")
        else:
            expected[request.pk] = ("won", "")
            left -= 1
            money -= request.carrier_id == other.carrier.pk
    assert {r.pk: (r.status, r.skip_reason) for r in requests} == expected
    theirs_won = [r for r in requests if r.carrier_id == other.carrier.pk and r.status == "won"]
    skipped = [r for r in requests if r.status == "skipped"]
    assert len(theirs_won) == 10 and skipped, "the money ran out before the places did"
    # Part-way: some of their skipped requests rank above some winners of mine.
    assert min(r.rank for r in skipped) < max(r.rank for r in requests if r.status == "won")
    assert result.won == places == Booking.objects.filter(status="confirmed").count()
    assert available_balance(other.carrier) == 0
    counter = SlotCounter.objects.get(
        checkpoint=world.checkpoint, direction="exit", date=DAY, hour=9, kind="regular"
    )
    assert counter.taken == places


def test_f5_ledger_counters_and_draw_check_out_after_a_bulk_draw_of_some_hundred_requests(
    world, fake_twilio, clock
):
    window, _other, _trucks = world_of_two_carriers(
        world,
        fake_twilio,
        clock,
        places={9: 60, 10: 60, 11: 60, 12: 60},
        mine=[((9 + i) % 4 + 9, (10 + i) % 4 + 9) for i in range(150)],
        theirs=[((11 + i) % 4 + 9,) for i in range(130)],
        their_money_for=120,
    )
    clock.move_to(CLOSES)
    version = cache.get(day_key(window.checkpoint_id, DAY))
    result = services.window_draw(window_id=window.pk)
    # The cached public reads of the day are told (rows inserted in bulk send no post_save).
    assert cache.get(day_key(window.checkpoint_id, DAY)) not in (None, version)
    # Enough of every kind of row for COPY on PostgreSQL (core.bulk.COPY_FROM).
    assert result.won >= 220, result
    assert Booking.objects.count() == result.won
    assert Transfer.objects.filter(kind__in=["fee", "deposit_hold"]).count() == 2 * result.won
    out = io.StringIO()
    call_command("verify_ledger", "--full", stdout=out)
    call_command("verify_capacity", stdout=out)
    call_command("verify_draw", str(window.pk), stdout=out)
    report = out.getvalue()
    assert "ledger consistent" in report and "slot counters consistent" in report, report
    assert f"draw {window.pk} verified" in report, report
    # The events written in bulk rehash to their hashes and seal into a chain that verifies.
    events = list(AuditEvent.objects.filter(action="booking.created"))
    assert len(events) == result.won
    assert all(e.event_hash == audit.compute_event_hash(e) for e in events)
    audit.seal_all()
    assert audit.verify_chain().ok
