"""The public live board of a checkpoint (Q4, Q6): what it shows, built from the bookings in
a bounded number of queries, and kept in the cache of the public reads (checkpoints.public_reads)
under the checkpoint's version stamps."""

import dataclasses
import datetime as dt
from collections import defaultdict

from django.utils import translation

from bookings.models import Booking
from checkpoint_queue import predictions
from checkpoints import capacity
from checkpoints.models import Checkpoint, Country, Direction, SlotCounter
from checkpoints.public_reads import PublicRead, cached_read, config_key, queue_key
from core import clock
from vehicles.plates import mask_plate

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
    # booking page and the driver link work it out (checkpoint_queue.predictions).
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
      hour, the rule of checkpoint_queue.predictions; two queries for both directions);
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


# The board also moves with the clock (the next bookable hours, called in the last 2 hours, the
# predicted call times: clock times worked out from the moment it was built), so an entry serves
# for this long only, whatever changed; a call or an arrival replaces `queue:` at once.
BOARD_CACHE_SECONDS = 10


def public_board(checkpoint: Checkpoint) -> PublicRead:
    """`board_of` for the public board page and API, from the cache for at most
    BOARD_CACHE_SECONDS when nothing changed since. The checkpoint's name is shown in the
    reader's language, which the stamp includes."""

    def compute() -> Board:
        # The page names the country: read with the board and kept in its entry.
        checkpoint.country = Country.objects.get(pk=checkpoint.country_id)
        return board_of(checkpoint)

    read = cached_read(
        checkpoint,
        "board",
        [config_key(checkpoint.pk), queue_key(checkpoint.pk)],
        compute,
        BOARD_CACHE_SECONDS,
    )
    return PublicRead(value=read.value, stamp=f"{read.stamp}-{translation.get_language()}")
