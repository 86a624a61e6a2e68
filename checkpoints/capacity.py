"""Capacity rules (C1–C4): how many places each slot and each day's priority quota has.

The rules, in order:

1. Priority quotas (C2) come first out of the daily capacity of a direction: out-of-turn 5 %,
   accelerated 1 %, each rounded down (650 a day → 32 and 6). An operator may set a day's
   quota instead (`QuotaOverride`); that changes the quota only.
2. The rest (650 − 32 − 6 = 612) is spread over the opening hours in whole vehicles, the
   remainder to the earliest hours, so the hours add up to exactly the rest (612 over 24 hours
   → 26 for 00:00–11:00, 25 for 12:00–23:00). Opening hours are `opens_at`–`closes_at` of the
   checkpoint (both empty: 24 hours; closing at 00:00 means midnight); every whole hour inside
   them is an hour of the day.
3. An operator may set any hour's regular capacity (`HourOverride`). The other hours keep theirs:
   nothing is redistributed. An override with places on an hour outside the opening hours opens
   that hour on that day.
4. Closures (C3): an hour that overlaps a closure of its direction (or of both directions) takes
   no booking: its regular capacity is 0, and a priority booking cannot name it either. When
   every hour of a day is closed, the day's quotas are 0 too. A partly closed day keeps its
   whole quotas: priority vehicles (perishables, animals, humanitarian cargo …) are the ones
   that can least wait for the next day, so they name one of the hours still open; the regular
   capacity of the closed hours is lost, not moved to other hours.

Local times are Asia/Almaty (UTC+5 all year since 2024-03-01, no DST); they are still computed
with zoneinfo, never with a fixed offset.

Everything here above "Selectors" is pure: it reads no database. The selectors load what the rules
need for a range of days in a fixed number of queries. The occupancy registry at the end lets
other apps tell `verify_capacity` what occupies places (bookings, holds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import CharField, IntegerField, Value

from checkpoints.models import Closure, HourOverride, QuotaOverride
from core import clock
from core.clock import ALMATY

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from checkpoints.models import Checkpoint, SlotCounter

# Values of checkpoints.models.SlotKind; repeated as plain strings so this module stays pure.
REGULAR = "regular"
ACCELERATED = "accelerated"
OUT_OF_TURN = "out_of_turn"
KINDS = (REGULAR, ACCELERATED, OUT_OF_TURN)
PRIORITY = (OUT_OF_TURN, ACCELERATED)

#: C2: the priority quotas as a percentage of the daily capacity, rounded down.
QUOTA_PERCENT: dict[str, int] = {OUT_OF_TURN: 5, ACCELERATED: 1}

#: SlotCounter.hour of a day quota row.
DAY = -1

SLOT_LENGTH = dt.timedelta(hours=1)
HOURS = range(24)


# --- Pure rules ------------------------------------------------------------------------------


def opening_hours(opens_at: dt.time | None, closes_at: dt.time | None) -> tuple[int, ...]:
    """The local hours (0–23) whose whole hour lies within the opening hours (C1).

    None/None is 24 hours; closing at 00:00 means midnight. An interval crossing midnight is not
    supported (the model refuses it) and raises ValueError here."""
    if opens_at is None and closes_at is None:
        return tuple(HOURS)
    if opens_at is None or closes_at is None:
        raise ValueError("opening hours need both opens_at and closes_at, or neither")

    def seconds(moment: dt.time) -> float:
        return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6

    opens = seconds(opens_at)
    closes = 24 * 3600 if closes_at == dt.time(0) else seconds(closes_at)
    if closes <= opens:
        raise ValueError(f"opening hours {opens_at}–{closes_at} cross midnight: not supported")
    first = math.ceil(opens / 3600)  # the first hour starting at or after opening
    last = math.floor(closes / 3600)  # hours ending at or before closing
    return tuple(range(first, last))


def priority_quotas(daily_capacity: int) -> dict[str, int]:
    """C2: out-of-turn 5 % and accelerated 1 % of the daily capacity, rounded down."""
    return {kind: daily_capacity * percent // 100 for kind, percent in QUOTA_PERCENT.items()}


def spread(total: int, hours: Iterable[int]) -> dict[int, int]:
    """`total` whole vehicles over `hours`: equal shares, the remainder one each to the earliest
    hours, so the values add up to exactly `total` (C1)."""
    ordered = sorted(hours)
    if not ordered:
        return {}
    share, remainder = divmod(max(total, 0), len(ordered))
    return {hour: share + (1 if index < remainder else 0) for index, hour in enumerate(ordered)}


def regular_hourly_capacity(daily_capacity: int, hours: Iterable[int]) -> dict[int, int]:
    """The regular capacity of each opening hour before overrides: the daily capacity minus the
    default quotas (C2), spread over the hours (C1)."""
    regular = daily_capacity - sum(priority_quotas(daily_capacity).values())
    return spread(regular, hours)


def hour_start(day: dt.date, hour: int) -> dt.datetime:
    """The aware start of a local hour (Asia/Almaty)."""
    return dt.datetime.combine(day, dt.time(hour), tzinfo=ALMATY)


def local_slot(start: dt.datetime) -> tuple[dt.date, int]:
    """(local date, hour) of an aware datetime."""
    local = start.astimezone(ALMATY)
    return local.date(), local.hour


def is_on_the_hour(start: dt.datetime) -> bool:
    """Aware and exactly on a local hour (an offset like +05:30 is not)."""
    if start.tzinfo is None or start.utcoffset() is None:
        return False
    local = start.astimezone(ALMATY)
    return (local.minute, local.second, local.microsecond) == (0, 0, 0)


def booking_window(now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """C4: the first and the last slot start that can be booked: now + 1 hour … now +
    BOOKING_WINDOW_DAYS days, both included."""
    now = now or clock.now()
    return now + dt.timedelta(hours=1), now + dt.timedelta(days=settings.BOOKING_WINDOW_DAYS)


def in_booking_window(start: dt.datetime, now: dt.datetime | None = None) -> bool:
    earliest, latest = booking_window(now)
    return earliest <= start <= latest


@dataclasses.dataclass(frozen=True)
class ClosedPeriod:
    """A closure as the rules see it: [starts_at, ends_at) and its direction (None = both)."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    direction: str | None = None
    closure_id: int | None = None
    reason: str = ""

    def covers(self, direction: str) -> bool:
        return self.direction is None or self.direction == direction

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.starts_at < end and self.ends_at > start


@dataclasses.dataclass(frozen=True)
class DayPlan:
    """The capacity of one checkpoint, direction and local date, by the rules (C1–C3).

    `hours`: the hours a booking may name (opening hours plus hours an override opens).
    `regular`: the regular capacity of each of them before closures.
    `closed`: those of them that overlap a closure (no booking may name them).
    `quotas`: the day quota of each priority service, after overrides and closures.
    """

    direction: str
    date: dt.date
    hours: tuple[int, ...]
    regular: Mapping[int, int]
    closed: frozenset[int]
    quotas: Mapping[str, int]
    closures: tuple[ClosedPeriod, ...] = ()

    def is_open(self, hour: int) -> bool:
        """An hour of the day that a booking may name (not closed, within the opening hours)."""
        return hour in self.regular and hour not in self.closed

    def planned(self, kind: str, hour: int = DAY) -> int:
        """What the counter row (kind, hour) should hold: an hour's regular capacity (0 when
        closed or outside the opening hours) or, for hour DAY, a priority quota."""
        if kind == REGULAR:
            if hour == DAY:
                raise ValueError("a regular counter is per hour")
            return 0 if hour in self.closed else self.regular.get(hour, 0)
        if kind not in PRIORITY:
            raise ValueError(f"unknown kind {kind!r}")
        return self.quotas[kind]

    def closure_at(self, hour: int) -> ClosedPeriod | None:
        start = hour_start(self.date, hour)
        for period in self.closures:
            if period.overlaps(start, start + SLOT_LENGTH):
                return period
        return None

    @property
    def regular_total(self) -> int:
        return sum(self.planned(REGULAR, hour) for hour in self.regular)


def day_plan(
    *,
    daily_capacity: int,
    opens_at: dt.time | None,
    closes_at: dt.time | None,
    direction: str,
    date: dt.date,
    hour_overrides: Mapping[int, int] | None = None,
    quota_overrides: Mapping[str, int] | None = None,
    closures: Iterable[ClosedPeriod] = (),
) -> DayPlan:
    """The capacity of one day by the rules (C1–C3); pure. `closures` may include periods of
    other days and directions: only those overlapping this day's hours in `direction` count."""
    hour_overrides = hour_overrides or {}
    quota_overrides = quota_overrides or {}
    regular = regular_hourly_capacity(daily_capacity, opening_hours(opens_at, closes_at))
    for hour, capacity in hour_overrides.items():
        if hour in regular or capacity > 0:
            regular[hour] = capacity
    hours = tuple(sorted(regular))
    regular = {hour: regular[hour] for hour in hours}

    day_start = hour_start(date, 0)
    day_end = day_start + dt.timedelta(days=1)
    relevant = tuple(
        period
        for period in closures
        if period.covers(direction) and period.overlaps(day_start, day_end)
    )
    closed = frozenset(
        hour
        for hour in hours
        if any(
            period.overlaps(hour_start(date, hour), hour_start(date, hour) + SLOT_LENGTH)
            for period in relevant
        )
    )
    quotas = {**priority_quotas(daily_capacity), **dict(quota_overrides)}
    if not hours or closed >= set(hours):
        quotas = dict.fromkeys(PRIORITY, 0)
    return DayPlan(
        direction=direction,
        date=date,
        hours=hours,
        regular=regular,
        closed=closed,
        quotas={kind: quotas[kind] for kind in PRIORITY},
        closures=relevant,
    )


def hours_of_period(starts_at: dt.datetime, ends_at: dt.datetime) -> list[dt.datetime]:
    """The starts of every local hour that overlaps [starts_at, ends_at)."""
    local = starts_at.astimezone(ALMATY)
    start = hour_start(local.date(), local.hour)
    starts = []
    while start < ends_at:
        starts.append(start)
        start = (start.astimezone(dt.UTC) + SLOT_LENGTH).astimezone(ALMATY)  # elapsed time
    return starts


def local_dates_of_period(starts_at: dt.datetime, ends_at: dt.datetime) -> list[dt.date]:
    """The local dates that [starts_at, ends_at) touches."""
    first = clock.local_date(starts_at)
    last = clock.local_date(ends_at - dt.timedelta(microseconds=1))
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


# --- Selectors: what the rules need, loaded in a fixed number of queries ----------------------


def load_overrides(
    *, checkpoint_id: int, directions: Iterable[str], first: dt.date, last: dt.date
) -> tuple[dict[tuple[str, dt.date], dict[int, int]], dict[tuple[str, dt.date], dict[str, int]]]:
    """Hour and quota overrides of a checkpoint for a range of days, in ONE query (a UNION).
    Returns ({(direction, date): {hour: capacity}}, {(direction, date): {service: capacity}})."""
    hours, quotas = _overrides_of(
        checkpoint_ids=[checkpoint_id], directions=directions, first=first, last=last
    )
    return (
        defaultdict(dict, {key[1:]: value for key, value in hours.items()}),
        defaultdict(dict, {key[1:]: value for key, value in quotas.items()}),
    )


def _overrides_of(
    *, checkpoint_ids: Iterable[int], directions: Iterable[str], first: dt.date, last: dt.date
) -> tuple[
    dict[tuple[int, str, dt.date], dict[int, int]], dict[tuple[int, str, dt.date], dict[str, int]]
]:
    """`load_overrides` of several checkpoints at once, keyed by (checkpoint id, direction,
    date): one query whatever their number."""
    checkpoint_ids, directions = list(checkpoint_ids), list(directions)
    hour_overrides: dict[tuple[int, str, dt.date], dict[int, int]] = defaultdict(dict)
    quota_overrides: dict[tuple[int, str, dt.date], dict[str, int]] = defaultdict(dict)
    if not directions or not checkpoint_ids:
        return hour_overrides, quota_overrides
    scope = {
        "checkpoint_id__in": checkpoint_ids,
        "direction__in": directions,
        "date__range": (first, last),
    }
    columns = ("checkpoint_id", "direction", "date")
    hours = (
        HourOverride.objects.filter(**scope)
        .annotate(kind=Value(REGULAR, output_field=CharField()))
        .values_list(*columns, "hour", "kind", "capacity")
        .order_by()
    )
    quotas = (
        QuotaOverride.objects.filter(**scope)
        .annotate(day=Value(DAY, output_field=IntegerField()))
        .values_list(*columns, "day", "service", "capacity")
        .order_by()
    )
    for checkpoint_id, direction, date, hour, kind, capacity in hours.union(quotas, all=True):
        if kind == REGULAR:
            hour_overrides[(checkpoint_id, direction, date)][hour] = capacity
        else:
            quota_overrides[(checkpoint_id, direction, date)][kind] = capacity
    return hour_overrides, quota_overrides


def load_closures(
    *, checkpoint_id: int, starts_at: dt.datetime, ends_at: dt.datetime
) -> list[ClosedPeriod]:
    """Closures of a checkpoint that overlap [starts_at, ends_at), in one query."""
    return _closures_of(checkpoint_ids=[checkpoint_id], starts_at=starts_at, ends_at=ends_at).get(
        checkpoint_id, []
    )


def _closures_of(
    *, checkpoint_ids: Iterable[int], starts_at: dt.datetime, ends_at: dt.datetime
) -> dict[int, list[ClosedPeriod]]:
    """`load_closures` of several checkpoints at once, by checkpoint id: one query."""
    checkpoint_ids = list(checkpoint_ids)
    found: dict[int, list[ClosedPeriod]] = defaultdict(list)
    if not checkpoint_ids:
        return found
    rows = Closure.objects.filter(
        checkpoint_id__in=checkpoint_ids, starts_at__lt=ends_at, ends_at__gt=starts_at
    ).only("checkpoint_id", "starts_at", "ends_at", "direction", "reason")
    for row in rows:
        found[row.checkpoint_id].append(
            ClosedPeriod(
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                direction=row.direction or None,
                closure_id=row.pk,
                reason=row.reason,
            )
        )
    return found


@dataclasses.dataclass(frozen=True)
class RuleBook:
    """What the rules need to plan the days `first`…`last` of some checkpoints: their overrides
    and closures, read by `rule_book` in two queries whatever the number of checkpoints and days.
    `plan()` then makes any of those days' plans without a query."""

    checkpoints: Mapping[int, Checkpoint]
    directions: tuple[str, ...]
    first: dt.date
    last: dt.date
    hour_overrides: Mapping[tuple[int, str, dt.date], Mapping[int, int]]
    quota_overrides: Mapping[tuple[int, str, dt.date], Mapping[str, int]]
    closures: Mapping[int, list[ClosedPeriod]]

    def plan(self, checkpoint_id: int, direction: str, date: dt.date) -> DayPlan:
        if not self.first <= date <= self.last or direction not in self.directions:
            raise ValueError(
                f"{direction} {date} is outside what was read: {self.directions}, "
                f"{self.first}–{self.last}"
            )
        checkpoint = self.checkpoints[checkpoint_id]
        key = (checkpoint_id, direction, date)
        return day_plan(
            daily_capacity=checkpoint.daily_capacity,
            opens_at=checkpoint.opens_at,
            closes_at=checkpoint.closes_at,
            direction=direction,
            date=date,
            hour_overrides=self.hour_overrides.get(key),
            quota_overrides=self.quota_overrides.get(key),
            closures=self.closures.get(checkpoint_id, ()),
        )


def rule_book(
    *,
    checkpoints: Iterable[Checkpoint],
    directions: Iterable[str],
    first: dt.date,
    last: dt.date,
) -> RuleBook:
    """The overrides and closures of `checkpoints` for the days `first`…`last`, in two queries
    (none without checkpoints or directions)."""
    by_id = {checkpoint.pk: checkpoint for checkpoint in checkpoints}
    directions = list(directions)
    hour_overrides, quota_overrides = _overrides_of(
        checkpoint_ids=by_id, directions=directions, first=first, last=last
    )
    closures = _closures_of(
        checkpoint_ids=by_id if directions else (),
        starts_at=hour_start(first, 0),
        ends_at=hour_start(last, 0) + dt.timedelta(days=1),
    )
    return RuleBook(
        checkpoints=by_id,
        directions=tuple(directions),
        first=first,
        last=last,
        hour_overrides=hour_overrides,
        quota_overrides=quota_overrides,
        closures=closures,
    )


def day_plans(
    *,
    checkpoint: Checkpoint,
    directions: Iterable[str],
    dates: Iterable[dt.date],
) -> dict[tuple[str, dt.date], DayPlan]:
    """The plans of some days of a checkpoint, keyed by (direction, date), in two queries
    (overrides, closures) whatever the number of days."""
    directions = list(directions)
    dates = sorted(set(dates))
    if not dates or not directions:
        return {}
    book = rule_book(
        checkpoints=[checkpoint], directions=directions, first=dates[0], last=dates[-1]
    )
    return {
        (direction, date): book.plan(checkpoint.pk, direction, date)
        for direction in directions
        for date in dates
    }


def plan_of_day(*, checkpoint: Checkpoint, direction: str, date: dt.date) -> DayPlan:
    """The plan of one day (two queries)."""
    return day_plans(checkpoint=checkpoint, directions=[direction], dates=[date])[(direction, date)]


# --- Occupancy registry (for verify_capacity) -------------------------------------------------

#: A function that, given the counters being checked, returns {counter id: places occupied}
#: by what it knows about (bookings, holds …). Ids it leaves out occupy nothing.
OccupancySource = Callable[["QuerySet[SlotCounter]"], Mapping[int, int]]

_occupancy_sources: dict[str, OccupancySource] = {}


def register_occupancy(name: str, source: OccupancySource) -> OccupancySource:
    """Tell `verify_capacity` what occupies places, e.g. from an app's `AppConfig.ready()`:

        register_occupancy("bookings", active_bookings_per_counter)

    `source(counters)` receives a SlotCounter queryset and returns {counter_id: count} for
    those counters (one aggregate query, please). The counts of every source are added up and
    must equal each counter's `taken`. Registering a name again replaces the function."""
    _occupancy_sources[name] = source
    return source


def unregister_occupancy(name: str) -> None:
    _occupancy_sources.pop(name, None)


def occupancy_sources() -> dict[str, OccupancySource]:
    return dict(_occupancy_sources)
