"""C1–C6: taking and releasing places on the slot counters, refreshing their capacity after an
operator's change, recounting them (verify_capacity), and the public slots API."""

import datetime as dt

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.db.transaction import TransactionManagementError

from checkpoints import capacity, selectors
from checkpoints.models import Closure, HourOverride, QuotaOverride, SlotCounter
from checkpoints.services import capacity_refresh, slot_move, slot_release, slot_take
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.checkpoints.factories import NOW, TOMORROW, at

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_now")]


def take(checkpoint, start, service="regular", direction="exit") -> SlotCounter:
    with transaction.atomic():
        return slot_take(checkpoint=checkpoint, direction=direction, start=start, service=service)


def refused(checkpoint, start, service="regular", direction="exit") -> ApplicationError:
    with pytest.raises(ApplicationError) as refusal:
        take(checkpoint, start, service, direction)
    return refusal.value


def limit_hour(checkpoint, start, places, direction="exit"):
    date, hour = capacity.local_slot(start)
    return HourOverride.objects.create(
        checkpoint=checkpoint, direction=direction, date=date, hour=hour, capacity=places
    )


# --- slot_take --------------------------------------------------------------------------------


def test_c1_c6_regular_place_comes_from_the_hours_counter(checkpoint):
    counter = take(checkpoint, at(TOMORROW, 9))
    assert (counter.date, counter.hour, counter.kind) == (TOMORROW, 9, "regular")
    assert (counter.planned, counter.capacity, counter.taken) == (26, 26, 1)
    again = take(checkpoint, at(TOMORROW, 9))
    assert again.pk == counter.pk and again.taken == 2
    assert SlotCounter.objects.count() == 1  # made on demand, one row per slot


def test_c2_priority_place_comes_from_the_days_quota_not_the_hour(checkpoint):
    counter = take(checkpoint, at(TOMORROW, 9), service="out_of_turn")
    assert (counter.hour, counter.kind, counter.capacity, counter.taken) == (
        SlotCounter.DAY,
        "out_of_turn",
        32,
        1,
    )
    other_hour = take(checkpoint, at(TOMORROW, 17), service="out_of_turn")
    assert other_hour.pk == counter.pk and other_hour.taken == 2
    accelerated = take(checkpoint, at(TOMORROW, 9), service="accelerated")
    assert (accelerated.capacity, accelerated.taken) == (6, 1)
    assert not SlotCounter.objects.filter(kind="regular").exists()


def test_c6_the_conditional_update_refuses_at_capacity(checkpoint):
    start = at(TOMORROW, 9)
    limit_hour(checkpoint, start, 2)
    take(checkpoint, start)
    take(checkpoint, start)
    refusal = refused(checkpoint, start)
    assert (refusal.code, refusal.status) == ("slot_full", 409)
    counter = SlotCounter.objects.get()
    assert (counter.capacity, counter.taken) == (2, 2)
    take(checkpoint, at(TOMORROW, 10))  # the next hour has its own places


def test_c2_a_used_up_quota_refuses(checkpoint):
    QuotaOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, service="accelerated", capacity=1
    )
    take(checkpoint, at(TOMORROW, 9), service="accelerated")
    assert refused(checkpoint, at(TOMORROW, 15), service="accelerated").code == "slot_full"
    take(checkpoint, at(TOMORROW, 15), service="out_of_turn")  # the other quota is its own


def test_c1_an_hour_override_of_zero_has_no_regular_places(checkpoint):
    limit_hour(checkpoint, at(TOMORROW, 9), 0)
    assert refused(checkpoint, at(TOMORROW, 9)).code == "slot_full"
    take(checkpoint, at(TOMORROW, 9), service="out_of_turn")  # the hour is open


def test_c4_the_booking_window_is_one_hour_to_thirty_days(checkpoint, settings):
    settings.BOOKING_WINDOW_DAYS = 30
    assert NOW.isoformat() == "2026-03-20T10:00:00+05:00"
    for start in (NOW, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=31)):
        refusal = refused(checkpoint, start)
        assert (refusal.code, refusal.status) == ("outside_booking_window", 409)
        assert refusal.fields["earliest"] == "2026-03-20T11:00:00+05:00"
        assert refusal.fields["latest"] == "2026-04-19T10:00:00+05:00"
    take(checkpoint, NOW + dt.timedelta(hours=1))  # 11:00 today: exactly an hour ahead
    take(checkpoint, NOW + dt.timedelta(days=30))  # 30 days ahead, to the minute
    assert refused(checkpoint, NOW + dt.timedelta(days=30, hours=1)).code == (
        "outside_booking_window"
    )
    settings.BOOKING_WINDOW_DAYS = 60
    take(checkpoint, NOW + dt.timedelta(days=30, hours=1))


def test_c4_the_window_moves_with_the_clock(checkpoint, frozen_now):
    start = at(TOMORROW, 9)
    take(checkpoint, start)
    frozen_now.move_to(start - dt.timedelta(minutes=59))
    assert refused(checkpoint, start).code == "outside_booking_window"


@pytest.mark.parametrize(
    "start",
    [
        at(TOMORROW, 9, 30),
        at(TOMORROW, 9) + dt.timedelta(seconds=1),
        dt.datetime(2026, 3, 21, 9, 0),  # naive
        dt.datetime(2026, 3, 21, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
    ],
)
def test_c1_a_slot_starts_on_a_local_hour(checkpoint, start):
    refusal = refused(checkpoint, start)
    assert (refusal.code, refusal.status) == ("validation_error", 400)
    assert "slot_start" in refusal.fields


def test_c1_the_same_hour_in_utc_is_the_same_slot(checkpoint):
    counter = take(checkpoint, dt.datetime(2026, 3, 21, 4, 0, tzinfo=dt.UTC))
    assert (counter.date, counter.hour) == (TOMORROW, 9)


def test_c1_hours_outside_the_opening_hours_are_refused(make_checkpoint):
    checkpoint = make_checkpoint(opens_at=dt.time(8), closes_at=dt.time(20))
    for start in (at(TOMORROW, 7), at(TOMORROW, 20)):
        for service in ("regular", "accelerated"):
            refusal = refused(checkpoint, start, service=service)
            assert (refusal.code, refusal.status) == ("validation_error", 400)
    take(checkpoint, at(TOMORROW, 8))
    take(checkpoint, at(TOMORROW, 19))
    limit_hour(checkpoint, at(TOMORROW, 20), 5)  # an operator opens 20:00 on that day
    assert take(checkpoint, at(TOMORROW, 20)).capacity == 5


def test_b1_unknown_service_or_direction_is_a_validation_error(checkpoint):
    assert refused(checkpoint, at(TOMORROW, 9), service="rebooking").fields.keys() == {"service"}
    assert refused(checkpoint, at(TOMORROW, 9), direction="up").fields.keys() == {"direction"}


def test_c3_no_booking_falls_in_a_closure(checkpoint):
    Closure.objects.create(
        checkpoint=checkpoint,
        starts_at=at(TOMORROW, 10, 30),
        ends_at=at(TOMORROW, 13),
        reason="Road works",
    )
    for hour in (10, 11, 12):
        for service in ("regular", "accelerated", "out_of_turn"):
            refusal = refused(checkpoint, at(TOMORROW, hour), service=service)
            assert (refusal.code, refusal.status) == ("checkpoint_closed", 409)
    assert refusal.fields["reason"] == "Road works"
    assert refusal.fields["closed_until"] == "2026-03-21T13:00:00+05:00"
    # A partly closed day keeps its quotas for the hours still open.
    assert take(checkpoint, at(TOMORROW, 13), service="out_of_turn").capacity == 32
    take(checkpoint, at(TOMORROW, 9))


def test_c3_a_closure_of_one_direction_leaves_the_other_bookable(checkpoint):
    Closure.objects.create(
        checkpoint=checkpoint,
        direction="entry",
        starts_at=at(TOMORROW, 0),
        ends_at=at(TOMORROW + dt.timedelta(1), 0),
        reason="Neighbour's side closed",
    )
    assert refused(checkpoint, at(TOMORROW, 9), direction="entry").code == "checkpoint_closed"
    take(checkpoint, at(TOMORROW, 9), direction="exit")


def test_c3_an_inactive_checkpoint_takes_no_booking(make_checkpoint):
    checkpoint = make_checkpoint(is_active=False)
    assert refused(checkpoint, at(TOMORROW, 9)).code == "checkpoint_closed"


def test_c6_a_place_taken_in_a_transaction_that_rolls_back_is_not_taken(checkpoint):
    take(checkpoint, at(TOMORROW, 9))
    with pytest.raises(RuntimeError), transaction.atomic():
        slot_take(checkpoint=checkpoint, direction="exit", start=at(TOMORROW, 9), service="regular")
        raise RuntimeError("the booking failed after taking the place")
    assert SlotCounter.objects.get().taken == 1


def test_c6_slot_take_gives_the_counter_as_a_read_of_it_gives_it(checkpoint):
    # The conditional UPDATE hands back the row it changed (RETURNING): no read afterwards.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    take(checkpoint, at(TOMORROW, 9))  # the row exists now
    for service in ("regular", "out_of_turn"):
        with CaptureQueriesContext(connection) as queries:
            counter = take(checkpoint, at(TOMORROW, 9), service=service)
        fresh = SlotCounter.objects.get(pk=counter.pk)
        fields = [field.attname for field in SlotCounter._meta.concrete_fields]
        assert [getattr(counter, f) for f in fields] == [getattr(fresh, f) for f in fields]
        assert not counter._state.adding and counter._state.db == fresh._state.db
    counts = [q["sql"] for q in queries.captured_queries if "slotcounter" in q["sql"]]
    assert len(counts) == 3, counts  # take (nothing there), make the quota row, take
    assert SlotCounter.objects.get(kind="regular").taken == 2


@pytest.mark.django_db(transaction=True)
def test_c6_slot_take_runs_only_inside_the_callers_transaction(checkpoint):
    with pytest.raises(TransactionManagementError):
        slot_take(checkpoint=checkpoint, direction="exit", start=at(TOMORROW, 9), service="regular")
    assert not SlotCounter.objects.exists()


# --- slot_release -------------------------------------------------------------------------------


def test_c6_slot_release_gives_one_place_back_and_never_goes_below_zero(checkpoint):
    start = at(TOMORROW, 9)
    limit_hour(checkpoint, start, 1)
    counter = take(checkpoint, start)
    assert refused(checkpoint, start).code == "slot_full"
    assert slot_release(counter_id=counter.pk) is True
    assert SlotCounter.objects.get().taken == 0
    assert slot_release(counter_id=counter.pk) is False
    assert SlotCounter.objects.get().taken == 0
    take(checkpoint, start)


# --- slot_move (B5) ---------------------------------------------------------------------------


def move(counter, start, service="regular") -> SlotCounter:
    with transaction.atomic():
        return slot_move(
            counter_id=counter.pk,
            checkpoint=counter.checkpoint,
            direction=counter.direction,
            start=start,
            service=service,
        )


@pytest.mark.parametrize(("first", "second"), [(9, 15), (15, 9)])  # both id orders
def test_b5_a_move_takes_the_new_place_and_frees_the_old_one(checkpoint, first, second):
    take(checkpoint, at(TOMORROW, second))  # its counter is made first: the lower id
    slot_release(counter_id=SlotCounter.objects.get().pk)
    old = take(checkpoint, at(TOMORROW, first))
    new = move(old, at(TOMORROW, second))
    rows = SlotCounter.objects.in_bulk([old.pk, new.pk])
    assert (rows[old.pk].taken, rows[new.pk].taken) == (0, 1)


def test_b5_a_refused_move_keeps_the_old_place(checkpoint):
    old = take(checkpoint, at(TOMORROW, 15))
    limit_hour(checkpoint, at(TOMORROW, 9), 0)
    with transaction.atomic():
        with pytest.raises(ApplicationError) as refusal:
            slot_move(
                counter_id=old.pk,
                checkpoint=checkpoint,
                direction="exit",
                start=at(TOMORROW, 9),
                service="regular",
            )
        assert refusal.value.code == "slot_full"
        # The caller went on with its transaction after the refusal: the old place is kept.
    assert SlotCounter.objects.get(pk=old.pk).taken == 1
    assert SlotCounter.objects.get(hour=9).taken == 0


def test_b5_a_priority_booking_moves_within_its_days_quota_even_when_it_is_used_up(checkpoint):
    QuotaOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, service="out_of_turn", capacity=1
    )
    quota = take(checkpoint, at(TOMORROW, 9), service="out_of_turn")
    assert move(quota, at(TOMORROW, 17), service="out_of_turn").pk == quota.pk
    assert SlotCounter.objects.get(pk=quota.pk).taken == 1
    # Another day is another quota.
    other_day = move(quota, at(TOMORROW + dt.timedelta(1), 9), service="out_of_turn")
    assert other_day.pk != quota.pk and other_day.taken == 1
    assert SlotCounter.objects.get(pk=quota.pk).taken == 0


def test_b5_a_move_into_a_closure_is_refused(checkpoint):
    old = take(checkpoint, at(TOMORROW, 9))
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 15), ends_at=at(TOMORROW, 16), reason="x"
    )
    with pytest.raises(ApplicationError) as refusal:
        move(old, at(TOMORROW, 15))
    assert refusal.value.code == "checkpoint_closed"
    assert SlotCounter.objects.get(pk=old.pk).taken == 1


# --- capacity_refresh: operators' changes reach the existing counters ---------------------------


def test_c1_a_new_daily_capacity_reaches_existing_future_counters(checkpoint):
    counter = take(checkpoint, at(TOMORROW, 9))
    quota = take(checkpoint, at(TOMORROW, 9), service="accelerated")
    checkpoint.daily_capacity = 100  # 5 + 1 quotas, 94 regular: 4 × 24 − 2 → 00:00–21:00 get 4
    checkpoint.save()
    report = capacity_refresh(checkpoint=checkpoint)
    assert (report.checked, report.updated, report.overbooked) == (2, 2, [])
    counter.refresh_from_db()
    quota.refresh_from_db()
    assert (counter.planned, counter.capacity, counter.taken) == (4, 4, 1)
    assert (quota.planned, quota.capacity) == (1, 1)
    assert AuditEvent.objects.filter(action="capacity.refreshed").count() == 1
    assert capacity_refresh(checkpoint=checkpoint).updated == 0  # nothing left to change


def test_c6_capacity_below_taken_keeps_the_row_at_taken_until_releases_bring_it_down(checkpoint):
    start = at(TOMORROW, 9)
    override = limit_hour(checkpoint, start, 5)
    counters = [take(checkpoint, start) for _ in range(3)]
    override.capacity = 1
    override.save()
    report = capacity_refresh(checkpoint=checkpoint, direction="exit", dates=[TOMORROW])
    assert [row.pk for row in report.overbooked] == [counters[0].pk]
    row = SlotCounter.objects.get()
    assert (row.planned, row.capacity, row.taken) == (1, 3, 3)  # CHECK (taken <= capacity) holds
    assert refused(checkpoint, start).code == "slot_full"
    slot_release(counter_id=row.pk)
    row.refresh_from_db()
    assert (row.planned, row.capacity, row.taken) == (1, 2, 2)  # no place came free
    assert refused(checkpoint, start).code == "slot_full"
    slot_release(counter_id=row.pk)
    slot_release(counter_id=row.pk)
    row.refresh_from_db()
    assert (row.planned, row.capacity, row.taken) == (1, 1, 0)
    take(checkpoint, start)
    assert refused(checkpoint, start).code == "slot_full"


def test_c3_a_new_closure_sets_the_counters_of_its_hours_to_zero(checkpoint):
    booked = take(checkpoint, at(TOMORROW, 11))
    empty = take(checkpoint, at(TOMORROW, 12))
    slot_release(counter_id=empty.pk)
    open_hour = take(checkpoint, at(TOMORROW, 14))
    closure = Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 11), ends_at=at(TOMORROW, 13), reason="x"
    )
    dates = capacity.local_dates_of_period(closure.starts_at, closure.ends_at)
    report = capacity_refresh(checkpoint=checkpoint, dates=dates)
    assert [row.pk for row in report.overbooked] == [booked.pk]  # a booking to cancel (C3)
    rows = SlotCounter.objects.in_bulk([booked.pk, empty.pk, open_hour.pk])
    assert (rows[booked.pk].planned, rows[booked.pk].capacity, rows[booked.pk].taken) == (0, 1, 1)
    assert (rows[empty.pk].planned, rows[empty.pk].capacity) == (0, 0)
    assert rows[open_hour.pk].capacity == 25
    assert {slot.hour for slot in selectors.slots_in_closure(closure)} == {11, 12}
    assert set(selectors.counters_in_closure(closure)) == {rows[booked.pk], rows[empty.pk]}


def test_c6_past_counters_are_history_and_not_refreshed(checkpoint, frozen_now):
    counter = take(checkpoint, at(TOMORROW, 9))
    frozen_now.move_to(at(TOMORROW + dt.timedelta(1), 9))
    checkpoint.daily_capacity = 100
    checkpoint.save()
    assert capacity_refresh(checkpoint=checkpoint).checked == 0
    counter.refresh_from_db()
    assert counter.capacity == 26


def test_c3_slots_in_closure_covers_both_directions_when_none_is_named(checkpoint):
    closure = Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 23, 30), ends_at=at(TOMORROW, 23, 45)
    )
    slots = selectors.slots_in_closure(closure)
    assert [(slot.direction, slot.start.isoformat()) for slot in slots] == [
        ("exit", "2026-03-21T23:00:00+05:00"),
        ("entry", "2026-03-21T23:00:00+05:00"),
    ]


# --- The database backs the counters ------------------------------------------------------------


def test_c6_the_database_refuses_more_taken_than_capacity(checkpoint):
    counter = take(checkpoint, at(TOMORROW, 9))
    with pytest.raises(IntegrityError), transaction.atomic():
        SlotCounter.objects.filter(pk=counter.pk).update(taken=counter.capacity + 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlotCounter.objects.filter(pk=counter.pk).update(taken=-1)


def test_c6_one_day_quota_row_per_kind_even_though_it_has_no_hour(checkpoint):
    quota = take(checkpoint, at(TOMORROW, 9), service="accelerated")
    with pytest.raises(IntegrityError), transaction.atomic():
        SlotCounter.objects.create(
            checkpoint=checkpoint,
            direction="exit",
            date=TOMORROW,
            hour=SlotCounter.DAY,
            kind="accelerated",
            planned=6,
            capacity=6,
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # a quota has no hour
        SlotCounter.objects.create(
            checkpoint=checkpoint,
            direction="exit",
            date=TOMORROW,
            hour=9,
            kind="accelerated",
            planned=6,
            capacity=6,
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # an hour has one
        SlotCounter.objects.create(
            checkpoint=checkpoint,
            direction="exit",
            date=TOMORROW,
            hour=SlotCounter.DAY,
            kind="regular",
            planned=6,
            capacity=6,
        )
    assert SlotCounter.objects.get() == quota


# --- verify_capacity ------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def only_the_tests_occupancy_sources(monkeypatch):
    """The counters here are taken without bookings: the apps' own sources (bookings, holds)
    would count none, so each test starts with no source registered."""
    monkeypatch.setattr(capacity, "_occupancy_sources", {})


def test_c6_verify_capacity_passes_on_consistent_counters(checkpoint, capsys):
    take(checkpoint, at(TOMORROW, 9))
    take(checkpoint, at(TOMORROW, 9), service="out_of_turn")
    call_command("verify_capacity")
    out = capsys.readouterr().out
    assert "checked 2 slot counters from 2026-03-20" in out
    assert "none registered" in out
    assert "consistent" in out


def test_c6_verify_capacity_fails_when_capacity_drifted_from_the_rules(checkpoint, capsys):
    counter = take(checkpoint, at(TOMORROW, 9))
    # An override saved without capacity_refresh (not through the admin).
    limit_hour(checkpoint, at(TOMORROW, 9), 3)
    with pytest.raises(CommandError, match="drifted"):
        call_command("verify_capacity")
    assert f"counter {counter.pk}" in capsys.readouterr().err
    capacity_refresh(checkpoint=checkpoint)
    call_command("verify_capacity")


def test_c6_verify_capacity_recounts_with_the_registered_occupancy_sources(checkpoint, capsys):
    counter = take(checkpoint, at(TOMORROW, 9))
    take(checkpoint, at(TOMORROW, 9))
    occupied = {counter.pk: 2}
    capacity.register_occupancy("test-bookings", lambda counters: dict(occupied))
    call_command("verify_capacity")
    assert "occupancy: test-bookings" in capsys.readouterr().out
    occupied[counter.pk] = 1  # a booking ended without releasing its place
    with pytest.raises(CommandError):
        call_command("verify_capacity")
    assert "taken 2, but 1 occupy it" in capsys.readouterr().err
    capacity.unregister_occupancy("test-bookings")
    call_command("verify_capacity")


def test_c6_verify_capacity_warns_about_bookings_left_in_a_closure(checkpoint, capsys):
    take(checkpoint, at(TOMORROW, 9))
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 9), ends_at=at(TOMORROW, 10), reason="x"
    )
    capacity_refresh(checkpoint=checkpoint)
    call_command("verify_capacity")  # not drift: the operator still has to cancel it (C3)
    assert "1 taken, the rules allow 0 now" in capsys.readouterr().out


def test_c6_verify_capacity_as_of_a_later_day_skips_earlier_counters(checkpoint, capsys):
    take(checkpoint, at(TOMORROW, 9))
    call_command("verify_capacity", "--as-of", "2026-03-22", "--allow-future")
    assert "checked 0 slot counters from 2026-03-22" in capsys.readouterr().out
    call_command("verify_capacity", "--all")
    assert "checked 1 slot counters of every day" in capsys.readouterr().out


# --- The day grid and the public slots API ------------------------------------------------------


def slots_url(code="TEST-CP"):
    return f"/api/v1/checkpoints/{code}/slots"


def test_c1_slots_api_shape_with_local_times(client, checkpoint):
    take(checkpoint, at(TOMORROW, 0))
    response = client.get(slots_url(), {"direction": "exit", "date": "2026-03-21"})
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("checkpoint", "direction", "date", "service")} == {
        "checkpoint": "TEST-CP",
        "direction": "exit",
        "date": "2026-03-21",
        "service": "regular",
    }
    assert len(body["slots"]) == 24
    assert body["slots"][0] == {
        "start": "2026-03-21T00:00:00+05:00",
        "end": "2026-03-21T01:00:00+05:00",
        "capacity": 26,
        "taken": 1,
        "free": 25,
        "closed": False,
        "bookable": True,
    }
    assert body["slots"][23]["start"] == "2026-03-21T23:00:00+05:00"
    assert body["slots"][23]["capacity"] == 25
    assert sum(slot["capacity"] for slot in body["slots"]) == 612


def test_c1_slots_api_reads_the_counters_in_one_query(
    client, checkpoint, django_assert_max_num_queries
):
    for hour in range(24):
        take(checkpoint, at(TOMORROW, hour))
    limit_hour(checkpoint, at(TOMORROW, 5), 30)
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 20), ends_at=at(TOMORROW, 22), reason="x"
    )
    # The checkpoint, the day's counters, the overrides, the closures: never one per hour.
    with django_assert_max_num_queries(4):
        response = client.get(slots_url(), {"direction": "exit", "date": "2026-03-21"})
    assert response.status_code == 200
    slots = response.json()["slots"]
    assert all(slot["taken"] == 1 for slot in slots)


def test_c2_slots_api_shows_the_days_quota_on_every_hour(client, make_checkpoint):
    checkpoint = make_checkpoint(opens_at=dt.time(8), closes_at=dt.time(20), daily_capacity=300)
    take(checkpoint, at(TOMORROW, 9), service="out_of_turn")
    body = client.get(
        slots_url(), {"direction": "exit", "date": "2026-03-21", "service": "out_of_turn"}
    ).json()
    assert body["service"] == "out_of_turn"
    assert [slot["start"][11:16] for slot in body["slots"]] == [f"{h:02d}:00" for h in range(8, 20)]
    assert {(s["capacity"], s["taken"], s["free"]) for s in body["slots"]} == {(15, 1, 14)}


def test_c3_slots_api_shows_closed_hours_with_no_capacity(client, checkpoint):
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 10), ends_at=at(TOMORROW, 12), reason="x"
    )
    for service in ("regular", "accelerated"):
        slots = client.get(
            slots_url(), {"direction": "exit", "date": "2026-03-21", "service": service}
        ).json()["slots"]
        closed = [slot for slot in slots if slot["closed"]]
        assert [slot["start"][11:13] for slot in closed] == ["10", "11"]
        assert all(s["capacity"] == 0 and s["free"] == 0 and not s["bookable"] for s in closed)
        assert slots[9]["free"] > 0 and slots[9]["bookable"]


def test_c4_slots_api_answers_any_date_but_only_the_window_is_bookable(client, checkpoint):
    today = client.get(slots_url(), {"direction": "entry", "date": "2026-03-20"}).json()["slots"]
    assert [slot["bookable"] for slot in today] == [False] * 11 + [True] * 13  # from 11:00
    far = client.get(slots_url(), {"direction": "entry", "date": "2027-01-01"}).json()["slots"]
    assert len(far) == 24 and not any(slot["bookable"] for slot in far)
    assert far[0]["capacity"] == 26


def test_c1_slots_api_refuses_bad_queries_in_the_api_error_shape(client, checkpoint):
    missing = client.get(slots_url("NO-SUCH"), {"direction": "exit", "date": "2026-03-21"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    for query, field in (
        ({"direction": "sideways", "date": "2026-03-21"}, "direction"),
        ({"direction": "exit", "date": "21.03.2026"}, "date"),
        ({"direction": "exit"}, "date"),
        ({"direction": "exit", "date": "2026-03-21", "service": "rebooking"}, "service"),
    ):
        response = client.get(slots_url(), query, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400, query
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert set(error["fields"]) == {field}, query
    date_error = client.get(
        slots_url(), {"direction": "exit", "date": "2026/03/21"}, HTTP_ACCEPT_LANGUAGE="en"
    ).json()["error"]
    assert "YYYY-MM-DD" in date_error["message"]


def test_c1_slots_api_is_public_and_throttled(client, checkpoint, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"public_read": "2/min"},
    }
    query = {"direction": "exit", "date": "2026-03-21"}
    assert client.get(slots_url(), query).status_code == 200
    assert client.get(slots_url().lower(), query).status_code == 200  # codes in any case
    response = client.get(slots_url(), query)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"


def test_c1_the_wizard_and_the_api_read_the_same_day_grid(client, checkpoint):
    take(checkpoint, at(TOMORROW, 9))
    grid = selectors.day_grid(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, service="regular"
    )
    body = client.get(slots_url(), {"direction": "exit", "date": "2026-03-21"}).json()
    assert [(s.start.isoformat(), s.capacity, s.taken, s.free) for s in grid.slots] == [
        (s["start"], s["capacity"], s["taken"], s["free"]) for s in body["slots"]
    ]


def test_c1_the_schema_documents_the_slots_endpoint(client):
    assert b"/api/v1/checkpoints/{code}/slots" in client.get("/api/v1/schema/").content


def test_c6_the_nightly_recount_starts_from_the_day_of_the_last_consistent_one(checkpoint, capsys):
    """Past days' counters are not read night after night: a consistent recount is recorded
    (an audit event, sealed into the chain) and the next starts from its day, which still
    changed after it ran; --full reads every day."""
    from checkpoints import tasks

    take(checkpoint, at(TOMORROW, 9))
    call_command("verify_capacity")
    assert "checked 1 slot counters from 2026-03-20" in capsys.readouterr().out
    assert AuditEvent.objects.filter(action="capacity.verified").count() == 1
    with time_machine.travel(at(TOMORROW + dt.timedelta(days=2), 3), tick=False):
        take(checkpoint, at(TOMORROW + dt.timedelta(days=3), 9))
        call_command("verify_capacity")  # from the day of the last recount: none skipped
        assert "checked 2 slot counters from 2026-03-20" in capsys.readouterr().out
        assert tasks.verify_capacity() is True
        call_command("verify_capacity")  # from the day of the task's recount
        assert "checked 1 slot counters from 2026-03-23" in capsys.readouterr().out
        call_command("verify_capacity", "--full")
        assert "checked 2 slot counters of every day" in capsys.readouterr().out


def test_c6_a_recount_that_finds_drift_records_nothing(checkpoint, capsys):
    take(checkpoint, at(TOMORROW, 9))
    limit_hour(checkpoint, at(TOMORROW, 9), 0)
    with pytest.raises(CommandError):
        call_command("verify_capacity")
    assert not AuditEvent.objects.filter(action="capacity.verified").exists()
