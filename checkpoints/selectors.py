"""Reads of checkpoints: reference data, slots and capacity, the waiting area and the board,
and the cached public reads."""

import dataclasses
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.db.models.signals import post_delete, post_save
from django.utils import translation
from django.utils.translation import gettext as _

from auth2fa.roles import OPERATORS, has_role
from bookings import predictions
from bookings.models import Booking, BookingDriver, booking_number, booking_pk_from_number
from checkpoints import capacity
from checkpoints.models import (
    Checkpoint,
    Closure,
    Country,
    Direction,
    HourOverride,
    QuotaOverride,
    SlotCounter,
)
from core import clock
from core.compiled_query import CompiledQuery
from core.errors import ApplicationError
from core.models import AuditEvent
from vehicles.plates import mask_plate, normalize_plate

logger = logging.getLogger(__name__)


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


# --- At the checkpoint: plate cameras, the staff screen, the live board (Q1–Q4) ----------------


def plate_of_device_text(raw: object) -> str:
    """A plate as a camera or a person sends it, normalised (B7). The country is unknown: a
    Kazakh plate first, else the general form. Raises validation_error for neither."""
    try:
        return normalize_plate(raw)
    except ApplicationError:
        return normalize_plate(raw, country="")


# A camera sending the same crossing again a little later gets the answer it got the first time.
DUPLICATE_CROSSING_WITHIN = dt.timedelta(hours=2)


class AmbiguousPlate(ApplicationError):
    """A camera's plate is on bookings of more than one carrier at the checkpoint (B7: plates are
    unique per carrier only). A camera cannot tell whose vehicle it saw, so it marks nothing: staff
    choose the booking by its number at the staff screen. `bookings` are the ones it could be."""

    def __init__(self, *, plate: str, bookings: list) -> None:
        numbers = [booking.number for booking in bookings]
        super().__init__(
            "ambiguous_plate",
            _(
                "The plate %(plate)s is on bookings of more than one carrier at this "
                "checkpoint, so the camera cannot tell whose vehicle it is: nothing was "
                "recorded. Mark it at the staff screen: find the plate there and choose the "
                "booking by the number the driver shows."
            )
            % {"plate": plate},
            status=409,
            fields={"bookings": numbers},
        )
        self.plate = plate
        self.bookings = bookings


def booking_for_device_event(*, checkpoint_id: int, plate: str, at: dt.datetime):
    """The booking a plate camera at this checkpoint reports about, or None.

    The active booking whose vehicle (or trailer) has this normalised plate. Where several of one
    carrier match (a booking in each direction, or a truck and a trailer with the same plate) the
    one whose check-in window (Q1) contains `at` wins, then the truck over the trailer, then the
    slot nearest to `at`. With no active one, a booking that crossed here shortly before is
    answered, so a repeated crossing event stays harmless.

    Plates are unique per carrier only: where the active bookings and those that crossed shortly
    before belong to more than one carrier, the camera cannot tell whose vehicle it saw, and
    AmbiguousPlate is raised (a carrier registering another's plate must not get the other's
    arrival or crossing)."""
    plated = Q(vehicle_plate=plate) | Q(trailer_plate=plate)
    candidates = list(
        Booking.objects.filter(checkpoint_id=checkpoint_id, status__in=Booking.ACTIVE)
        .filter(plated)
        .select_related("checkpoint")
    )
    crossed = list(
        Booking.objects.filter(
            checkpoint_id=checkpoint_id,
            status=Booking.Status.CROSSED,
            crossed_at__gte=at - DUPLICATE_CROSSING_WITHIN,
        )
        .filter(plated)
        .select_related("checkpoint")
        .order_by("-crossed_at", "-pk")
    )
    if len({booking.carrier_id for booking in candidates + crossed}) > 1:
        raise AmbiguousPlate(plate=plate, bookings=candidates + crossed)
    if candidates:

        def preference(booking) -> tuple:
            opens, closes = booking.check_in_window
            return (
                not opens <= at < closes,
                booking.vehicle_plate != plate,
                abs((booking.slot_start - at).total_seconds()),
                booking.pk,
            )

        return min(candidates, key=preference)
    return crossed[0] if crossed else None


@dataclasses.dataclass(frozen=True)
class StaffSearch:
    """What the staff screen found for the text typed or scanned: a booking number (also what a
    QR scanner types) or a plate. `elsewhere` names a booking number that exists but is for
    another checkpoint (nothing more about it is shown)."""

    text: str
    bookings: list
    elsewhere: str = ""
    problem: str = ""


STAFF_SEARCH_LIMIT = 10


def staff_search(*, checkpoint: Checkpoint, text: str) -> StaffSearch:
    """Bookings of this checkpoint for a number or a plate, active ones first, then the latest
    slots (a plate may have many bookings over time), each with its carrier: plates are unique
    per carrier only (B7), so staff tell two carriers' bookings of a plate apart by the carrier
    and the number (what a plate camera leaves to them, AmbiguousPlate)."""
    text = (text or "").strip()[:60]
    if not text:
        return StaffSearch(text="", bookings=[])
    # Staff see whom they let through (Q9): the drivers, in the order they were named.
    drivers = BookingDriver.objects.select_related("driver").order_by("added_at", "pk")
    bookings = Booking.objects.select_related(
        "vehicle", "trailer", "checkpoint", "carrier"
    ).prefetch_related(Prefetch("driver_links", queryset=drivers))
    pk = booking_pk_from_number(text)
    if pk is not None:
        found = list(bookings.filter(pk=pk))
        if found and found[0].checkpoint_id != checkpoint.pk:
            return StaffSearch(text=text, bookings=[], elsewhere=booking_number(pk))
        return StaffSearch(text=text, bookings=found)
    try:
        plate = plate_of_device_text(text)
    except ApplicationError:
        return StaffSearch(
            text=text,
            bookings=[],
            problem=_("Type a booking number like K-0001234-5, or a plate like 123 ABC 02."),
        )
    found = list(
        bookings.filter(checkpoint=checkpoint)
        .filter(Q(vehicle_plate=plate) | Q(trailer_plate=plate))
        .annotate(
            inactive=Case(
                When(status__in=Booking.ACTIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("inactive", "-slot_start", "-pk")[:STAFF_SEARCH_LIMIT]
    )
    return StaffSearch(text=text, bookings=found)


@dataclasses.dataclass(frozen=True)
class QueueSide:
    """One direction of a checkpoint's waiting area, for staff: the vehicles waiting in call
    order (Q2) and those called forward, not yet crossed."""

    direction: str
    label: str
    waiting: list
    called: list

    @property
    def due(self) -> int:
        """How many waiting vehicles could be called now (their slot has started, Q1)."""
        return sum(1 for booking in self.waiting if booking.is_due)


def waiting_area(*, checkpoint: Checkpoint, now: dt.datetime | None = None) -> list[QueueSide]:
    """Both directions of the waiting area, in Q2 order, in one query."""
    now = now or clock.now()
    rows = (
        Booking.objects.filter(
            checkpoint=checkpoint, status__in=[Booking.Status.ARRIVED, Booking.Status.CALLED]
        )
        .select_related("vehicle", "trailer")
        .in_call_order()
    )
    sides = {
        direction: QueueSide(direction, label, [], []) for direction, label in Direction.choices
    }
    for booking in rows:
        side = sides[booking.direction]
        if booking.status == Booking.Status.ARRIVED:
            booking.position = len(side.waiting) + 1
            booking.is_due = booking.slot_start <= now
            side.waiting.append(booking)
        else:
            side.called.append(booking)
    for side in sides.values():
        side.called.sort(key=lambda booking: (booking.called_at, booking.pk))
    return list(sides.values())


# The live board (Q4).
BOARD_CALLED_WITHIN = dt.timedelta(hours=2)
BOARD_FREE_HOURS = 6


@dataclasses.dataclass(frozen=True)
class BoardVehicle:
    direction: str
    position: int | None
    plate_masked: str
    service: str
    slot_start: dt.datetime
    status: str
    called_at: dt.datetime | None = None
    # Q6, for a vehicle waiting: a clock time worked out when the board was built, as the
    # booking page and the driver link work it out (bookings.predictions).
    predicted_call_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class BoardHour:
    direction: str
    start: dt.datetime
    end: dt.datetime
    free: int
    closed: bool


@dataclasses.dataclass(frozen=True)
class BoardSide:
    direction: str
    label: str
    waiting: list[BoardVehicle]
    called: list[BoardVehicle]
    free_places: list[BoardHour]


@dataclasses.dataclass(frozen=True)
class Board:
    """What a public live board shows (Q4): plates masked, nothing that names a carrier."""

    checkpoint: Checkpoint
    updated_at: dt.datetime
    waiting: list[BoardVehicle]
    called: list[BoardVehicle]
    free_places: list[BoardHour]
    average_wait_minutes: int | None

    @property
    def sides(self) -> list[BoardSide]:
        return [
            BoardSide(
                direction=direction,
                label=label,
                waiting=[row for row in self.waiting if row.direction == direction],
                called=[row for row in self.called if row.direction == direction],
                free_places=[row for row in self.free_places if row.direction == direction],
            )
            for direction, label in Direction.choices
        ]


def board_of(checkpoint: Checkpoint, now: dt.datetime | None = None) -> Board:
    """The live board of a checkpoint in seven queries whatever the queue's length:

    - waiting: vehicles in the waiting area in call order (Q2), numbered per direction, each
      with its predicted call time (Q6: the vehicles ahead of it ÷ the direction's calls per
      hour, the rule of bookings.predictions; two queries for both directions);
    - called: vehicles called forward in the last 2 hours (crossed ones say so);
    - free places: regular places left in each of the next 6 hours that can still be booked
      (from now + 1 hour, C4), per direction;
    - average wait today: from arrival to the call, of the vehicles called today (local day).
    """
    now = now or clock.now()
    columns = (
        "direction",
        "vehicle_plate",
        "vehicle__registration_country",
        "service",
        "slot_start",
        "status",
        "arrived_at",
        "called_at",
    )
    positions: dict[str, int] = defaultdict(int)
    arrived = list(
        Booking.objects.filter(checkpoint=checkpoint, status=Booking.Status.ARRIVED)
        .in_call_order()
        .values_list(*columns)
    )
    rates = predictions.call_rates(
        checkpoint=checkpoint, directions=sorted({row[0] for row in arrived}), now=now
    )
    waiting = []
    for direction, plate, country, service, slot_start, status, _arrived, _called in arrived:
        positions[direction] += 1
        waiting.append(
            BoardVehicle(
                direction=direction,
                position=positions[direction],
                plate_masked=mask_plate(plate, country),
                service=service,
                slot_start=slot_start,
                status=status,
                predicted_call_at=predictions.expected_call(
                    ahead=positions[direction] - 1,
                    rate=rates[direction],
                    slot_start=slot_start,
                    now=now,
                ),
            )
        )

    today_starts = clock.start_of_local_day(clock.local_date(now))
    called, waits = [], []
    recent = Booking.objects.filter(
        checkpoint=checkpoint,
        called_at__gte=min(today_starts, now - BOARD_CALLED_WITHIN),
        called_at__lte=now,
    ).order_by("-called_at", "-pk")
    for (
        direction,
        plate,
        country,
        service,
        slot_start,
        status,
        arrived,
        called_at,
    ) in recent.values_list(*columns):
        if called_at >= now - BOARD_CALLED_WITHIN:
            called.append(
                BoardVehicle(
                    direction=direction,
                    position=None,
                    plate_masked=mask_plate(plate, country),
                    service=service,
                    slot_start=slot_start,
                    status=status,
                    called_at=called_at,
                )
            )
        if called_at >= today_starts and arrived is not None:
            waits.append(max((called_at - arrived).total_seconds(), 0))
    average = round(sum(waits) / len(waits) / 60) if waits else None

    return Board(
        checkpoint=checkpoint,
        updated_at=now,
        waiting=waiting,
        called=called,
        free_places=_free_places(checkpoint, now),
        average_wait_minutes=average,
    )


def _free_places(checkpoint: Checkpoint, now: dt.datetime) -> list[BoardHour]:
    """Regular places left in the next bookable hours, both directions (three queries)."""
    earliest, _latest = capacity.booking_window(now)
    first = earliest.astimezone(clock.ALMATY).replace(minute=0, second=0, microsecond=0)
    if first < earliest:
        first += capacity.SLOT_LENGTH
    starts = [first + index * capacity.SLOT_LENGTH for index in range(BOARD_FREE_HOURS)]
    slots = [(start, *capacity.local_slot(start)) for start in starts]
    dates = {date for _start, date, _hour in slots}
    directions = list(Direction.values)
    plans = capacity.day_plans(checkpoint=checkpoint, directions=directions, dates=dates)
    counters = {
        (row.direction, row.date, row.hour): row
        for row in SlotCounter.objects.filter(
            checkpoint=checkpoint, kind=capacity.REGULAR, date__in=dates
        ).only("direction", "date", "hour", "capacity", "taken")
    }
    hours = []
    for direction in directions:
        for start, date, hour in slots:
            plan = plans[(direction, date)]
            closed = not plan.is_open(hour)
            row = counters.get((direction, date, hour))
            if closed:
                free = 0
            elif row is not None:
                free = row.free
            else:
                free = plan.planned(capacity.REGULAR, hour)
            hours.append(
                BoardHour(
                    direction=direction,
                    start=start,
                    end=start + capacity.SLOT_LENGTH,
                    free=free,
                    closed=closed,
                )
            )
    return hours


# --- Cached public reads: the slots API and the live board ---------------------------------------
#
# Both are read far more often than they change, by anyone, without signing in. In front of the
# portal the proxy keeps each answer for a few seconds (core.http_cache, deploy/nginx); behind it
# they are kept in the cache under version stamps, so a change shows at once: an entry carries the
# versions it was computed under and is used only while they are still the current ones; a change
# replaces the version. A reader takes the versions before it reads the database, so an entry
# computed from rows older than a change always carries a version that the change has already
# replaced. The versions are also the answer's ETag.
#
# - `cfg:<checkpoint>`: the checkpoint's capacity, opening hours, overrides and closures (C1–C3);
#   replaced when any of those rows is saved or deleted (admin, services).
# - `day:<checkpoint>:<date>`: the slot counters of one local date; replaced by every booking or
#   hold that takes or frees a place on it.
# - `queue:<checkpoint>`: what the board shows about vehicles (Q1–Q4); replaced by every saved
#   booking of the checkpoint.
#
# A version is replaced when the change is made and again when its transaction commits: a reader
# between the two may store rows of before the commit, under a version the commit replaces.
# PUBLIC_CACHE_SECONDS bounds how long a change that bypasses the ORM (raw SQL) can go unseen.

PUBLIC_CACHE_SECONDS = 300
# The board also moves with the clock (the next bookable hours, called in the last 2 hours, the
# predicted call times: clock times worked out from the moment it was built), so an entry serves
# for this long only, whatever changed; a call or an arrival replaces `queue:` at once.
BOARD_CACHE_SECONDS = 10


def _cfg_key(checkpoint_id: int) -> str:
    return f"public:v:cfg:{checkpoint_id}"


def _day_key(checkpoint_id: int, date: dt.date) -> str:
    return f"public:v:day:{checkpoint_id}:{date.isoformat()}"


def _queue_key(checkpoint_id: int) -> str:
    return f"public:v:queue:{checkpoint_id}"


def _replace_versions(keys: list[str]) -> None:
    def replace() -> None:
        cache.set_many({key: uuid.uuid4().hex for key in keys}, timeout=None)

    # A cache that is down must not fail the booking or the operator's change that got here:
    # the change is logged, and entries expire within PUBLIC_CACHE_SECONDS anyway.
    try:
        replace()
    except Exception:
        logger.exception("Public read cache: versions %s not replaced", keys)
    transaction.on_commit(replace, robust=True)


def public_reads_changed(*, checkpoint_id: int, dates: Iterable[dt.date] = ()) -> None:
    """Places were taken or freed on `dates`, or a booking of the checkpoint changed: the slots
    of those dates and the checkpoint's board are read again from the database."""
    keys = [_queue_key(checkpoint_id)] + [_day_key(checkpoint_id, date) for date in set(dates)]
    _replace_versions(keys)


def checkpoint_config_changed(*, checkpoint_id: int) -> None:
    """Capacity, opening hours, an override or a closure changed: every cached slot grid and the
    board of the checkpoint are read again."""
    _replace_versions([_cfg_key(checkpoint_id)])


# Read on every public read that reaches the portal; the ORM builds it once (core.compiled_query).
_BOOKABLE_BY_CODE = CompiledQuery(
    lambda code: Checkpoint.objects.bookable().filter(code=code)[:1], code="(stand-in)"
)


def public_checkpoint(code: str) -> Checkpoint | None:
    """The active checkpoint serving freight with this code (any case), or None."""
    code = code.upper()
    # A code no checkpoint can have is not looked up (PostgreSQL would refuse a NUL byte in it).
    if not 0 < len(code) <= 40 or not _CODE_CHARACTERS.issuperset(code):
        return None
    return next(iter(_BOOKABLE_BY_CODE.run(code=code)), None)


_CODE_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


@dataclasses.dataclass(frozen=True)
class PublicRead:
    """A cached public read and the stamp of what it was computed from (its ETag)."""

    value: Any
    stamp: str


def _public_read(
    checkpoint: Checkpoint,
    name: str,
    version_keys: list[str],
    compute: Callable[[], Any],
    timeout: int,
) -> PublicRead:
    """The cached value `name` of a checkpoint, computed by `compute()` when missing or stored
    under other versions. An entry is (versions it was computed under, value). A version
    missing from the cache (never set, or evicted) gets a new one, never a value an old entry
    could have been stored under."""
    entry = f"public:{name}:{checkpoint.pk}"
    found = cache.get_many([*version_keys, entry])
    for key in version_keys:
        if key not in found:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            found[key] = cache.get(key)
    versions = tuple(found[key] for key in version_keys)
    stored = found.get(entry)
    if stored is not None and stored[0] == versions:
        value, computed = stored[1], stored[2]
    else:
        value, computed = compute(), uuid.uuid4().hex[:8]
        cache.set(entry, (versions, value, computed), timeout=timeout)
    # The entry's own mark tells apart two computations under the same versions (the board's
    # clock-bound parts after BOARD_CACHE_SECONDS).
    return PublicRead(value=value, stamp="-".join([*versions, computed]))


def public_day_grid(
    *, checkpoint: Checkpoint, direction: str, date: dt.date, service: str
) -> PublicRead:
    """`day_grid` for the public slots API, from the cache when nothing changed since.
    `bookable` depends on the time of the request and is worked out again on every read; the
    stamp says which slots it found bookable."""
    read = _public_read(
        checkpoint,
        f"slots:{direction}:{date.isoformat()}:{service}",
        [_cfg_key(checkpoint.pk), _day_key(checkpoint.pk, date)],
        lambda: day_grid(checkpoint=checkpoint, direction=direction, date=date, service=service),
        PUBLIC_CACHE_SECONDS,
    )
    grid = _bookable_now(read.value)
    flags = "".join("1" if slot.bookable else "0" for slot in grid.slots)
    return PublicRead(value=grid, stamp=f"{read.stamp}-{int(flags or '0', 2):x}")


def _open_with_place(slot) -> bool:
    """Bookable but for the booking window, which moves with the clock (C4)."""
    return not slot.closed and slot.free > 0


def _bookable_now(grid: DayGrid) -> DayGrid:
    """The grid with `bookable` worked out for this moment (it moves with the clock)."""
    now = clock.now()
    return dataclasses.replace(
        grid,
        slots=[
            dataclasses.replace(
                slot,
                bookable=_open_with_place(slot) and capacity.in_booking_window(slot.start, now),
            )
            for slot in grid.slots
        ],
    )


def public_board(checkpoint: Checkpoint) -> PublicRead:
    """`board_of` for the public board page and API, from the cache for at most
    BOARD_CACHE_SECONDS when nothing changed since. The checkpoint's name is shown in the
    reader's language, which the stamp includes."""

    def compute() -> Board:
        # The page names the country: read with the board and kept in its entry.
        checkpoint.country = Country.objects.get(pk=checkpoint.country_id)
        return board_of(checkpoint)

    read = _public_read(
        checkpoint,
        "board",
        [_cfg_key(checkpoint.pk), _queue_key(checkpoint.pk)],
        compute,
        BOARD_CACHE_SECONDS,
    )
    return PublicRead(value=read.value, stamp=f"{read.stamp}-{translation.get_language()}")


def _config_row_changed(sender, instance, **kwargs) -> None:
    checkpoint_config_changed(
        checkpoint_id=instance.pk if sender is Checkpoint else instance.checkpoint_id
    )


# Booking saves that change neither the place nor what the board shows.
_QUIET_BOOKING_FIELDS = frozenset({"deposit_hold"})


def _booking_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if not created and update_fields is not None and set(update_fields) <= _QUIET_BOOKING_FIELDS:
        return
    public_reads_changed(
        checkpoint_id=instance.checkpoint_id, dates=[clock.local_date(instance.slot_start)]
    )


def _hold_changed(sender, instance, **kwargs) -> None:
    public_reads_changed(
        checkpoint_id=instance.checkpoint_id, dates=[clock.local_date(instance.slot_start)]
    )


for _model in (Checkpoint, HourOverride, QuotaOverride, Closure):
    post_save.connect(_config_row_changed, sender=_model, dispatch_uid=f"public-{_model.__name__}")
    post_delete.connect(
        _config_row_changed, sender=_model, dispatch_uid=f"public-del-{_model.__name__}"
    )
post_save.connect(_booking_saved, sender="bookings.Booking", dispatch_uid="public-booking")
post_save.connect(_hold_changed, sender="bookings.SlotHold", dispatch_uid="public-hold")
post_delete.connect(_hold_changed, sender="bookings.SlotHold", dispatch_uid="public-del-hold")
