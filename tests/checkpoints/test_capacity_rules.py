"""C1–C3: the capacity of each slot and each day's priority quotas, by the rules."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from checkpoints import capacity
from checkpoints.capacity import ClosedPeriod, day_plan
from checkpoints.models import Checkpoint, Closure, HourOverride, QuotaOverride
from tests.checkpoints.factories import TOMORROW, at


def plan(daily=650, opens=None, closes=None, direction="exit", **kwargs):
    return day_plan(
        daily_capacity=daily,
        opens_at=opens,
        closes_at=closes,
        direction=direction,
        date=TOMORROW,
        **kwargs,
    )


# --- C1: the day adds up -----------------------------------------------------------------------


def test_c1_hourly_capacity_adds_up_to_the_day():
    day = plan(650)
    assert day.quotas == {"out_of_turn": 32, "accelerated": 6}
    assert day.hours == tuple(range(24))
    # 650 − 32 − 6 = 612 = 24 × 25 + 12: the 12 earliest hours get one more.
    assert [day.regular[hour] for hour in range(12)] == [26] * 12
    assert [day.regular[hour] for hour in range(12, 24)] == [25] * 12
    assert sum(day.regular.values()) == 612
    assert sum(day.regular.values()) + sum(day.quotas.values()) == 650


@pytest.mark.parametrize("daily", [0, 1, 7, 19, 20, 99, 100, 150, 199, 300, 650, 701, 10_000])
@pytest.mark.parametrize(
    "hours", [(None, None), (dt.time(8), dt.time(20)), (dt.time(7), dt.time(0))]
)
def test_c1_every_day_adds_up_exactly_and_earlier_hours_never_get_less(daily, hours):
    day = plan(daily, *hours)
    values = [day.regular[hour] for hour in day.hours]
    assert sum(values) + sum(day.quotas.values()) == daily
    assert values == sorted(values, reverse=True)
    assert max(values) - min(values) <= 1


def test_c1_opening_hours_08_to_20_are_twelve_hours():
    day = plan(300, dt.time(8), dt.time(20))
    assert day.hours == tuple(range(8, 20))
    # 300 − 15 − 3 = 282 = 12 × 23 + 6.
    assert day.quotas == {"out_of_turn": 15, "accelerated": 3}
    assert [day.regular[h] for h in range(8, 14)] == [24] * 6
    assert [day.regular[h] for h in range(14, 20)] == [23] * 6
    assert day.planned("regular", 7) == 0 and day.planned("regular", 20) == 0
    assert not day.is_open(7) and day.is_open(8) and day.is_open(19) and not day.is_open(20)


def test_c1_closing_at_midnight_means_the_end_of_the_day():
    assert capacity.opening_hours(dt.time(20), dt.time(0)) == (20, 21, 22, 23)
    assert capacity.opening_hours(None, None) == tuple(range(24))


def test_c1_opening_hours_crossing_midnight_are_not_supported():
    with pytest.raises(ValueError, match="midnight"):
        capacity.opening_hours(dt.time(22), dt.time(6))


def test_c1_an_hour_override_changes_that_hour_only():
    day = plan(650, hour_overrides={3: 40, 4: 0})
    assert day.regular[3] == 40
    assert day.regular[4] == 0 and day.is_open(4)  # open, no regular places
    assert day.regular[2] == 26 and day.regular[5] == 26 and day.regular[23] == 25
    assert day.quotas == {"out_of_turn": 32, "accelerated": 6}  # nothing redistributed


def test_c1_an_override_with_places_opens_an_hour_outside_the_opening_hours():
    day = plan(300, dt.time(8), dt.time(20), hour_overrides={20: 10, 6: 0})
    assert day.hours == (*range(8, 20), 20)
    assert day.planned("regular", 20) == 10
    assert not day.is_open(6)  # an override of 0 opens nothing


def test_c1_local_hours_come_from_zoneinfo_in_almaty():
    start = capacity.hour_start(TOMORROW, 9)
    assert start.isoformat() == "2026-03-21T09:00:00+05:00"
    assert capacity.local_slot(start.astimezone(dt.UTC)) == (TOMORROW, 9)
    assert capacity.is_on_the_hour(dt.datetime(2026, 3, 21, 4, 0, tzinfo=dt.UTC))
    half_hour_zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert not capacity.is_on_the_hour(dt.datetime(2026, 3, 21, 9, 0, tzinfo=half_hour_zone))
    assert not capacity.is_on_the_hour(dt.datetime(2026, 3, 21, 9, 0))  # naive


# --- C2: priority quotas -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("daily", "out_of_turn", "accelerated"),
    [(650, 32, 6), (700, 35, 7), (100, 5, 1), (199, 9, 1), (99, 4, 0), (19, 0, 0), (0, 0, 0)],
)
def test_c2_quotas_are_5_and_1_percent_rounded_down(daily, out_of_turn, accelerated):
    assert capacity.priority_quotas(daily) == {
        "out_of_turn": out_of_turn,
        "accelerated": accelerated,
    }


def test_c2_a_quota_override_changes_the_quota_only():
    day = plan(650, quota_overrides={"accelerated": 20})
    assert day.quotas == {"out_of_turn": 32, "accelerated": 20}
    assert sum(day.regular.values()) == 612


# --- C3: closures ------------------------------------------------------------------------------


def test_c3_a_day_closed_entirely_has_no_capacity_and_no_quotas():
    closure = ClosedPeriod(starts_at=at(TOMORROW, 0), ends_at=at(TOMORROW + dt.timedelta(1), 0))
    day = plan(650, closures=[closure])
    assert day.closed == frozenset(range(24))
    assert day.regular_total == 0
    assert day.quotas == {"out_of_turn": 0, "accelerated": 0}
    assert all(day.planned("regular", hour) == 0 for hour in range(24))


def test_c3_closing_every_opening_hour_closes_the_day():
    closure = ClosedPeriod(starts_at=at(TOMORROW, 6), ends_at=at(TOMORROW, 21))
    day = plan(300, dt.time(8), dt.time(20), closures=[closure])
    assert day.quotas == {"out_of_turn": 0, "accelerated": 0}


def test_c3_a_partly_closed_day_keeps_its_quotas_but_closes_its_hours():
    # 10:30–13:00 touches the hours 10, 11 and 12; 13:00 is open again.
    closure = ClosedPeriod(starts_at=at(TOMORROW, 10, 30), ends_at=at(TOMORROW, 13))
    day = plan(650, closures=[closure])
    assert day.closed == frozenset({10, 11, 12})
    assert day.planned("regular", 10) == 0 and day.planned("regular", 13) == 25
    assert day.planned("regular", 9) == 26
    assert not day.is_open(12) and day.is_open(13) and day.is_open(9)
    assert day.quotas == {"out_of_turn": 32, "accelerated": 6}
    assert day.regular_total == 612 - 26 - 26 - 25  # lost, not moved to other hours
    assert day.closure_at(11) == closure and day.closure_at(13) is None


def test_c3_a_closure_of_one_direction_leaves_the_other_open():
    closure = ClosedPeriod(starts_at=at(TOMORROW, 0), ends_at=at(TOMORROW, 23), direction="entry")
    assert plan(650, direction="entry", closures=[closure]).closed == frozenset(range(23))
    assert plan(650, direction="exit", closures=[closure]).closed == frozenset()


def test_c3_a_closure_over_midnight_closes_hours_of_both_days():
    closure = ClosedPeriod(starts_at=at(TOMORROW, 22), ends_at=at(TOMORROW + dt.timedelta(1), 2))
    assert plan(650, closures=[closure]).closed == frozenset({22, 23})
    next_day = day_plan(
        daily_capacity=650,
        opens_at=None,
        closes_at=None,
        direction="exit",
        date=TOMORROW + dt.timedelta(1),
        closures=[closure],
    )
    assert next_day.closed == frozenset({0, 1})


def test_c3_hours_and_dates_of_a_period():
    starts = capacity.hours_of_period(at(TOMORROW, 22, 30), at(TOMORROW + dt.timedelta(1), 1))
    assert [start.isoformat() for start in starts] == [
        "2026-03-21T22:00:00+05:00",
        "2026-03-21T23:00:00+05:00",
        "2026-03-22T00:00:00+05:00",
    ]
    assert capacity.local_dates_of_period(at(TOMORROW, 0), at(TOMORROW + dt.timedelta(1), 0)) == [
        TOMORROW
    ]


# --- The models refuse what the rules cannot use ---------------------------------------------


def test_c1_checkpoint_hours_crossing_midnight_are_refused(make_checkpoint):
    checkpoint = make_checkpoint()
    checkpoint.opens_at, checkpoint.closes_at = dt.time(22), dt.time(6)
    with pytest.raises(ValidationError) as refused:
        checkpoint.full_clean()
    assert "closes_at" in refused.value.message_dict
    checkpoint.opens_at, checkpoint.closes_at = dt.time(8, 30), dt.time(20)
    with pytest.raises(ValidationError):
        checkpoint.full_clean()
    checkpoint.opens_at, checkpoint.closes_at = dt.time(8), None
    with pytest.raises(ValidationError) as refused:
        checkpoint.full_clean()
    assert list(refused.value.message_dict) == ["closes_at"]  # one clear message, no duplicate
    checkpoint.opens_at, checkpoint.closes_at = dt.time(8), dt.time(0)
    checkpoint.full_clean()
    # The database refuses it too, whoever writes the row.
    with pytest.raises(IntegrityError), transaction.atomic():
        Checkpoint.objects.filter(pk=checkpoint.pk).update(
            opens_at=dt.time(22), closes_at=dt.time(6)
        )


def test_c3_a_closure_ends_after_it_starts(checkpoint):
    closure = Closure(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 10), ends_at=at(TOMORROW, 10), reason="x"
    )
    with pytest.raises(ValidationError):
        closure.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        closure.save()


def test_c1_c2_rules_are_loaded_with_one_query_for_overrides_and_one_for_closures(
    checkpoint, django_assert_num_queries
):
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, hour=9, capacity=3
    )
    QuotaOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, service="accelerated", capacity=9
    )
    QuotaOverride.objects.create(
        checkpoint=checkpoint, direction="entry", date=TOMORROW, service="out_of_turn", capacity=1
    )
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(TOMORROW, 15), ends_at=at(TOMORROW, 17), reason="x"
    )
    with django_assert_num_queries(2):
        plans = capacity.day_plans(
            checkpoint=checkpoint,
            directions=["exit", "entry"],
            dates=[TOMORROW, TOMORROW + dt.timedelta(1)],
        )
    exit_day = plans[("exit", TOMORROW)]
    assert exit_day.planned("regular", 9) == 3
    assert exit_day.quotas == {"out_of_turn": 32, "accelerated": 9}
    assert exit_day.closed == frozenset({15, 16})
    assert plans[("entry", TOMORROW)].quotas == {"out_of_turn": 1, "accelerated": 6}
    assert plans[("entry", TOMORROW)].closed == frozenset({15, 16})
    assert plans[("exit", TOMORROW + dt.timedelta(1))].closed == frozenset()
    assert plans[("exit", TOMORROW + dt.timedelta(1))].planned("regular", 9) == 26


def _overrides_by_the_orm(*, checkpoint_id, directions, first, last):
    """Each kind of override read on its own, as the oracle of `load_overrides` (one UNION)."""
    from django.db.models import Q

    scope = Q(
        checkpoint_id=checkpoint_id, direction__in=list(directions), date__range=(first, last)
    )
    hours, quotas = {}, {}
    for direction, date, hour, places in HourOverride.objects.filter(scope).values_list(
        "direction", "date", "hour", "capacity"
    ):
        hours.setdefault((direction, date), {})[hour] = places
    for direction, date, service, places in QuotaOverride.objects.filter(scope).values_list(
        "direction", "date", "service", "capacity"
    ):
        quotas.setdefault((direction, date), {})[service] = places
    return hours, quotas


def _closures_by_the_orm(*, checkpoint_id, starts_at, ends_at):
    rows = Closure.objects.filter(
        checkpoint_id=checkpoint_id, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).values_list("starts_at", "ends_at", "direction", "pk", "reason")
    return sorted(
        (
            ClosedPeriod(starts_at=s, ends_at=e, direction=d or None, closure_id=pk, reason=reason)
            for s, e, d, pk, reason in rows
        ),
        key=lambda period: period.closure_id,
    )


def test_c1_c3_overrides_and_closures_of_a_checkpoint_and_a_range_of_days(
    checkpoint, make_checkpoint
):
    other = make_checkpoint(code="OTHER")
    day_after = TOMORROW + dt.timedelta(1)
    for where, direction, date, hour, places in (
        (checkpoint, "exit", TOMORROW, 9, 3),
        (checkpoint, "exit", TOMORROW, 23, 0),
        (checkpoint, "entry", TOMORROW, 0, 7),
        (checkpoint, "exit", day_after, 9, 5),
        (checkpoint, "exit", day_after + dt.timedelta(1), 9, 5),
        (other, "exit", TOMORROW, 9, 1),
    ):
        HourOverride.objects.create(
            checkpoint=where, direction=direction, date=date, hour=hour, capacity=places
        )
    for where, direction, date, service, places in (
        (checkpoint, "exit", TOMORROW, "accelerated", 9),
        (checkpoint, "entry", day_after, "out_of_turn", 1),
        (other, "exit", TOMORROW, "accelerated", 2),
    ):
        QuotaOverride.objects.create(
            checkpoint=where, direction=direction, date=date, service=service, capacity=places
        )
    for where, direction, starts, ends in (
        (checkpoint, "", at(TOMORROW, 15), at(TOMORROW, 17)),
        (checkpoint, "entry", at(TOMORROW, 0), at(TOMORROW, 1)),
        (checkpoint, "exit", at(day_after, 23), at(day_after + dt.timedelta(2), 0)),
        (other, "", at(TOMORROW, 0), at(day_after, 0)),
    ):
        Closure.objects.create(
            checkpoint=where, direction=direction, starts_at=starts, ends_at=ends, reason="x"
        )
    for directions in (["exit"], ["entry"], ["exit", "entry"], []):
        for first, last in ((TOMORROW, TOMORROW), (TOMORROW, day_after), (day_after, day_after)):
            scope = dict(checkpoint_id=checkpoint.pk, directions=directions, first=first, last=last)
            hours, quotas = capacity.load_overrides(**scope)
            assert (dict(hours), dict(quotas)) == _overrides_by_the_orm(**scope), scope
    for starts, ends in (
        (at(TOMORROW, 0), at(day_after, 0)),
        (at(TOMORROW, 16), at(TOMORROW, 17)),
        (at(TOMORROW, 17), at(day_after, 23)),
        (at(day_after, 23), at(day_after + dt.timedelta(3), 0)),
    ):
        scope = dict(checkpoint_id=checkpoint.pk, starts_at=starts, ends_at=ends)
        read = capacity.load_closures(**scope)
        assert sorted(read, key=lambda p: p.closure_id) == _closures_by_the_orm(**scope), scope
        assert all(period.starts_at.utcoffset() is not None for period in read)


def test_c1_c3_rule_book_plans_many_checkpoints_as_day_plans_plans_each_in_two_queries(
    checkpoint, make_checkpoint, django_assert_num_queries
):
    other = make_checkpoint(
        code="OTHER", daily_capacity=48, opens_at=dt.time(8), closes_at=dt.time(20)
    )
    quiet = make_checkpoint(code="QUIET")
    day_after = TOMORROW + dt.timedelta(1)
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, hour=9, capacity=3
    )
    HourOverride.objects.create(
        checkpoint=other, direction="entry", date=day_after, hour=21, capacity=2
    )
    QuotaOverride.objects.create(
        checkpoint=other, direction="exit", date=TOMORROW, service="accelerated", capacity=4
    )
    Closure.objects.create(
        checkpoint=other, starts_at=at(TOMORROW, 10), ends_at=at(TOMORROW, 12), reason="x"
    )
    Closure.objects.create(
        checkpoint=checkpoint,
        direction="entry",
        starts_at=at(day_after, 23),
        ends_at=at(day_after + dt.timedelta(2), 0),
        reason="x",
    )
    everyone = [checkpoint, other, quiet]
    with django_assert_num_queries(2):
        book = capacity.rule_book(
            checkpoints=everyone, directions=["exit", "entry"], first=TOMORROW, last=day_after
        )
    with django_assert_num_queries(0):
        plans = {
            (where.pk, direction, date): book.plan(where.pk, direction, date)
            for where in everyone
            for direction in ("exit", "entry")
            for date in (TOMORROW, day_after)
        }
    for where in everyone:
        alone = capacity.day_plans(
            checkpoint=where, directions=["exit", "entry"], dates=[TOMORROW, day_after]
        )
        for (direction, date), plan in alone.items():
            assert plans[(where.pk, direction, date)] == plan, (where.code, direction, date)
    assert plans[(other.pk, "entry", day_after)].is_open(21)
    assert plans[(other.pk, "exit", TOMORROW)].closed == frozenset({10, 11})
    with pytest.raises(ValueError):
        book.plan(checkpoint.pk, "exit", day_after + dt.timedelta(1))
    with django_assert_num_queries(0):
        empty = capacity.rule_book(
            checkpoints=[], directions=["exit"], first=TOMORROW, last=TOMORROW
        )
    assert empty.checkpoints == {}
