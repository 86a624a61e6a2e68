"""Reads of checkpoints: reference data, who works where, slots and capacity (C1–C6).

The cached public reads of them (the slots API) are in checkpoints.public_reads; the waiting
area, the call order and the live board are the queue's (checkpoint_queue)."""

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from auth2fa.roles import OPERATORS, has_role
from checkpoints import capacity
from checkpoints.models import Checkpoint, Closure, Country, DeviceReport, Direction, SlotCounter
from core import clock
from core.models import AuditEvent


def countries_with_checkpoints() -> QuerySet[Country]:
    """Countries with their active checkpoints serving freight, for the home page (R1)."""
    return Country.objects.prefetch_related(
        Prefetch(
            "checkpoints",
            queryset=Checkpoint.objects.bookable().order_by("name_en"),
        )
    ).order_by("code")


def active_checkpoints(*, country: str | None = None) -> QuerySet[Checkpoint]:
    checkpoints = Checkpoint.objects.bookable().select_related("country")
    if country:
        checkpoints = checkpoints.filter(country_id=country.upper())
    return checkpoints.order_by("country_id", "name_en")


def sees_every_checkpoint(user: Any) -> bool:
    """Superusers and registrar operators work at every checkpoint (A5)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.is_superuser or has_role(user, OPERATORS)


def checkpoints_of_staff(user: Any) -> QuerySet[Checkpoint]:
    """The checkpoints where `user` sees and acts (A5): all for superusers and operators, the
    assigned ones for checkpoint staff, none for anyone else (auditors, carriers, the public)."""
    if sees_every_checkpoint(user):
        return Checkpoint.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Checkpoint.objects.none()
    return Checkpoint.objects.filter(staff_assignments__user=user)


# --- Slots and capacity (C1–C6) ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SlotView:
    """One hour of a day as people and programs see it (API.md `slots[]`).

    For `regular` the numbers are the hour's; for `accelerated` and `out_of_turn` they are the
    day's quota, the same on every hour. A closed hour (C3) shows capacity 0 and free 0 and
    `closed`; `bookable` says whether a booking of this service could take it now (open, a
    place free, within the booking window C4)."""

    start: dt.datetime
    end: dt.datetime
    capacity: int
    taken: int
    free: int
    closed: bool
    bookable: bool


@dataclasses.dataclass(frozen=True)
class DayGrid:
    checkpoint: str
    direction: str
    date: dt.date
    service: str
    slots: list[SlotView]


def day_grid(
    *,
    checkpoint: Checkpoint,
    direction: str,
    date: dt.date,
    service: str,
    now: dt.datetime | None = None,
) -> DayGrid:
    """The slots of one day for one service: what the API serializes and the booking wizard
    shows (one source of truth). Every hour a booking may name is listed, from the opening
    hours and overrides; hours without a counter row yet come from the rules (nothing taken).

    Three queries whatever the day: the day's counters of this service, the overrides and the
    closures. Any date is answered, also outside the booking window (read-only, `bookable`
    false), so people can see the capacity of past and far days."""
    now = now or clock.now()
    plan = capacity.plan_of_day(checkpoint=checkpoint, direction=direction, date=date)
    counters = {
        row.hour: row
        for row in SlotCounter.objects.filter(
            checkpoint=checkpoint, direction=direction, date=date, kind=service
        ).only("hour", "planned", "capacity", "taken")
    }
    slots = []
    for hour in plan.hours:
        counter_hour = hour if service == capacity.REGULAR else capacity.DAY
        row = counters.get(counter_hour)
        if row is not None:
            planned, taken, free = row.planned, row.taken, row.free
        else:
            planned = plan.planned(service, counter_hour)
            taken, free = 0, planned
        closed = hour in plan.closed
        if closed:
            planned = free = 0
        start = capacity.hour_start(date, hour)
        slots.append(
            SlotView(
                start=start,
                end=start + capacity.SLOT_LENGTH,
                capacity=planned,
                taken=taken,
                free=free,
                closed=closed,
                bookable=not closed and free > 0 and capacity.in_booking_window(start, now),
            )
        )
    return DayGrid(
        checkpoint=checkpoint.code, direction=direction, date=date, service=service, slots=slots
    )


@dataclasses.dataclass(frozen=True)
class SoonestHour:
    """The soonest hour of a checkpoint and direction that a carrier can book now (W4), or
    `start` None when no hour of the booking window has a place."""

    checkpoint_id: int
    direction: str
    start: dt.datetime | None


def soonest_free_hours(
    checkpoints: list[Checkpoint], *, now: dt.datetime | None = None
) -> dict[tuple[int, str], SoonestHour]:
    """For each checkpoint and direction, the first hour of the booking window (C4) that takes a
    regular booking first-come now: within the opening hours or opened by an override, not in a
    closure (C3), with a regular place by the rules and a counter (if it has one yet) that is not
    full. A day whose places a release window keeps back for its draw has every counter full
    (F1), so it is passed over like a day booked out; so is a live hold (C5).

    Three queries whatever the number of checkpoints (the home page lists them all): the
    overrides and the closures of every checkpoint (`capacity.rule_book`) and the full regular
    counters of the window. Only full counters are read: a counter that is not full has
    places by the rules too (capacity = max(planned, taken), and `planned` follows the rules,
    which `verify_capacity` checks), so the rules alone say where the places are."""
    now = now or clock.now()
    earliest, latest = capacity.booking_window(now)
    dates = capacity.local_dates_of_period(earliest, latest + capacity.SLOT_LENGTH)
    found: dict[tuple[int, str], SoonestHour] = {}
    if not checkpoints:
        return found
    directions = Direction.values
    book = capacity.rule_book(
        checkpoints=checkpoints, directions=directions, first=dates[0], last=dates[-1]
    )
    full = set(
        SlotCounter.objects.filter(
            checkpoint_id__in=[checkpoint.pk for checkpoint in checkpoints],
            kind=capacity.REGULAR,
            date__range=(dates[0], dates[-1]),
            taken__gte=F("capacity"),
        )
        .values_list("checkpoint_id", "direction", "date", "hour")
        .order_by()
    )
    for checkpoint in checkpoints:
        for direction in directions:
            found[(checkpoint.pk, direction)] = SoonestHour(
                checkpoint_id=checkpoint.pk,
                direction=direction,
                start=_soonest_start(book, full, checkpoint.pk, direction, dates, earliest, latest),
            )
    return found


def _soonest_start(
    book: capacity.RuleBook,
    full: set[tuple[int, str, dt.date, int]],
    checkpoint_id: int,
    direction: str,
    dates: list[dt.date],
    earliest: dt.datetime,
    latest: dt.datetime,
) -> dt.datetime | None:
    for date in dates:
        plan = book.plan(checkpoint_id, direction, date)
        for hour in plan.hours:
            start = capacity.hour_start(date, hour)
            if start < earliest:
                continue
            if start > latest:
                return None
            if (
                plan.is_open(hour)
                and plan.planned(capacity.REGULAR, hour) > 0
                and (checkpoint_id, direction, date, hour) not in full
            ):
                return start
    return None


@dataclasses.dataclass(frozen=True)
class ClosedSlot:
    """A slot hour that overlaps a closure."""

    direction: str
    date: dt.date
    hour: int
    start: dt.datetime
    end: dt.datetime


def slots_in_closure(closure: Closure) -> list[ClosedSlot]:
    """Every slot hour the closure touches, in each direction it covers (both when it names
    none), whatever the opening hours: what the operator's cancelling of the bookings inside a
    new closure (C3) goes through. Bookings of any service name their hour by `slot_start`, so
    `Booking.slot_start in {slot.start}` (or the range [first start, closure.ends_at)) finds
    them, priority ones included. No query."""
    starts = capacity.hours_of_period(closure.starts_at, closure.ends_at)
    return [
        ClosedSlot(
            direction=direction,
            date=start.date(),
            hour=start.hour,
            start=start,
            end=start + capacity.SLOT_LENGTH,
        )
        for direction in closure.directions
        for start in starts
    ]


def counters_in_closure(closure: Closure) -> QuerySet[SlotCounter]:
    """The regular counters of the hours a closure touches (day quota rows are not per hour)."""
    slots = slots_in_closure(closure)
    if not slots:
        return SlotCounter.objects.none()
    hours = Q()
    for slot in slots:
        hours |= Q(direction=slot.direction, date=slot.date, hour=slot.hour)
    return SlotCounter.objects.filter(hours, checkpoint_id=closure.checkpoint_id, kind="regular")


@dataclasses.dataclass
class CapacityReport:
    """What `capacity_check` found. `problems` are drift (the command fails); `warnings` are
    rows where more is taken than the rules allow now, e.g. bookings inside a new closure that
    the operator has still to cancel (C3)."""

    counters_checked: int = 0
    day: dt.date | None = None
    since: dt.date | None = None
    sources: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# A recount that found the counters consistent is an audit event naming the day it ran: the next
# one starts from that day (what changed after it), so a nightly run reads the days still open to
# change, not every counter of the years behind them.
CAPACITY_VERIFIED_ACTION = "capacity.verified"


def capacity_last_verified_day() -> dt.date | None:
    """The local day of the newest recount that found the counters consistent."""
    after = (
        AuditEvent.objects.filter(action=CAPACITY_VERIFIED_ACTION)
        .order_by("-id")
        .values_list("after", flat=True)
        .first()
    )
    return dt.date.fromisoformat(after["day"]) if after else None


def capacity_check(
    *,
    as_of: dt.datetime | None = None,
    all_dates: bool = False,
    since_verified: bool = False,
) -> CapacityReport:
    """Recount the slot counters (C6), as the nightly `verify_capacity` does.

    Counters of the local day of `as_of` and later (every counter with `all_dates`; with
    `since_verified`, from the day of the last consistent recount if that is earlier) are checked:
    - the invariants: 0 ≤ taken ≤ capacity, capacity = max(planned, taken), the hour matches
      the kind (what the CHECK constraints also say);
    - `planned` against the rules as they are now (days from `as_of` on only: the rules of past
      days may have changed since);
    - `taken` against what occupies places, counted by every function registered with
      `capacity.register_occupancy` (bookings, holds). With none registered this is skipped.
    """
    as_of = as_of or clock.now()
    report = CapacityReport(sources=sorted(capacity.occupancy_sources()))
    today = clock.local_date(as_of)
    report.day = today
    scope = SlotCounter.objects.all()
    if not all_dates:
        verified = capacity_last_verified_day() if since_verified else None
        report.since = min(today, verified) if verified else today
        scope = scope.filter(date__gte=report.since)
    columns = ("pk", "checkpoint_id", "direction", "date", "hour", "kind")
    rows = list(
        scope.order_by("checkpoint_id", "date", "direction", "kind", "hour").values_list(
            *columns, "planned", "capacity", "taken"
        )
    )
    report.counters_checked = len(rows)
    if not rows:
        return report

    def label(row) -> str:
        pk, checkpoint_id, direction, date, hour, kind = row[:6]
        when = "day" if hour == capacity.DAY else f"{hour:02d}:00"
        return f"counter {pk} (checkpoint {checkpoint_id} {direction} {date} {when} {kind})"

    for row in rows:
        _pk, _cp, _dir, _date, hour, kind, planned, cap, taken = row
        if taken < 0 or taken > cap:
            report.problems.append(f"{label(row)}: taken {taken} outside 0…capacity {cap}")
        if cap != max(planned, taken):
            report.problems.append(
                f"{label(row)}: capacity {cap} is not max(planned {planned}, taken {taken})"
            )
        if (kind == capacity.REGULAR) != (0 <= hour <= 23) or (
            kind != capacity.REGULAR and hour != capacity.DAY
        ):
            report.problems.append(f"{label(row)}: hour {hour} does not fit kind {kind}")

    by_checkpoint: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        if row[3] >= today:
            by_checkpoint[row[1]].append(row)
    checkpoints = Checkpoint.objects.in_bulk(list(by_checkpoint))
    for checkpoint_id, checkpoint_rows in by_checkpoint.items():
        plans = capacity.day_plans(
            checkpoint=checkpoints[checkpoint_id],
            directions={row[2] for row in checkpoint_rows},
            dates={row[3] for row in checkpoint_rows},
        )
        for row in checkpoint_rows:
            _pk, _cp, direction, date, hour, kind, planned, _cap, taken = row
            wanted = plans[(direction, date)].planned(kind, hour)
            if planned != wanted:
                report.problems.append(
                    f"{label(row)}: planned {planned}, the rules give {wanted} "
                    "(capacity_refresh was not run after a change)"
                )
            if taken > wanted:
                report.warnings.append(f"{label(row)}: {taken} taken, the rules allow {wanted} now")

    sources = capacity.occupancy_sources()
    if sources:
        occupied: dict[int, int] = defaultdict(int)
        for source in sources.values():
            for counter_id, count in source(scope).items():
                occupied[counter_id] += count
        for row in rows:
            if occupied.get(row[0], 0) != row[8]:
                report.problems.append(
                    f"{label(row)}: taken {row[8]}, but {occupied.get(row[0], 0)} occupy it "
                    f"({', '.join(report.sources)})"
                )
    return report


def closures_ahead(checkpoint: Checkpoint) -> QuerySet[Closure]:
    """The checkpoint's current and coming closures (C3), soonest first: published on its page
    so a carrier plans around them (W4)."""
    return Closure.objects.filter(checkpoint=checkpoint, ends_at__gt=clock.now()).order_by(
        "starts_at", "pk"
    )


# --- Devices that work through an outage (O4) -------------------------------------------------


def devices_last_report(checkpoint_ref: Any = None) -> Subquery:
    """The moment up to which a checkpoint's devices have delivered everything they recorded
    (O4): the newest report of its devices in service (a device that never reported counts from
    its first contact). NULL for a checkpoint without such devices. `checkpoint_ref` is the
    checkpoint's id in the outer query (OuterRef("checkpoint_id") by default)."""
    reports = (
        DeviceReport.objects.filter(
            checkpoint_id=checkpoint_ref
            if checkpoint_ref is not None
            else OuterRef("checkpoint_id"),
            retired_at__isnull=True,
        )
        .annotate(moment=Coalesce("reported_at", "first_seen_at"))
        .order_by("-moment")
        .values("moment")[:1]
    )
    return Subquery(reports)
