"""The daily figures of W5 computed from bookings and the capacity rules; pure where it can be.

Definitions (docs/open-data.md says the same to the readers of the data):

- a booking belongs to the local (Almaty) date and hour of its slot;
- places offered: every regular place of the day's hours plus the day's priority quotas, as the
  capacity rules give them (C1–C3: opening hours, overrides, closures), or as the slot counter
  enforced them where that was more (capacity is never below what was taken, C6);
- booked: bookings that held a place of the day and were not cancelled (whatever came of them:
  crossed, no-show, refused …); cancellations: bookings of the day cancelled by the carrier or by
  the operator (a closure, D4);
- arrived: bookings marked arrived in the waiting area (Q1); crossed, no-shows: their status;
- wait: from arrival to the call forward (Q1–Q3), of the bookings that were called; the median
  (the mean of the two middle values for an even count) and the 90th percentile by the nearest
  rank (the smallest wait that at least 90 % of the waits do not exceed), in whole seconds.
"""

import dataclasses
import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Mapping

from bookings.models import Booking

CANCELLED = frozenset({Booking.Status.CANCELLED, Booking.Status.CANCELLED_BY_OPERATOR})

# A source of the "requested" figure: given a local date, {(checkpoint id, direction): number of
# requests made in the draws for that date's places}. The fair release (F1) registers one when it
# is installed (`register_requested_source`); until a source answers for a checkpoint and day the
# figure stays NULL, "not applicable": those places were not released by a draw.
RequestedSource = Callable[[dt.date], Mapping[tuple[int, str], int]]

_requested_sources: dict[str, RequestedSource] = {}


def register_requested_source(name: str, source: RequestedSource) -> RequestedSource:
    _requested_sources[name] = source
    return source


def unregister_requested_source(name: str) -> None:
    _requested_sources.pop(name, None)


def requested_on(day: dt.date) -> dict[tuple[int, str], int]:
    """Requests in the draws for `day`'s places, summed over the registered sources."""
    totals: dict[tuple[int, str], int] = {}
    for source in _requested_sources.values():
        for key, count in source(day).items():
            totals[key] = totals.get(key, 0) + count
    return totals


def median_seconds(waits: list[int]) -> int | None:
    return round(statistics.median(waits)) if waits else None


def p90_seconds(waits: list[int]) -> int | None:
    """The 90th percentile by the nearest rank: portable, and always one of the waits."""
    if not waits:
        return None
    ordered = sorted(waits)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@dataclasses.dataclass
class Tally:
    """The bookings of one checkpoint, direction and day, counted as the module says."""

    booked: int = 0
    arrived: int = 0
    crossed: int = 0
    no_shows: int = 0
    cancellations: int = 0
    waits: list[int] = dataclasses.field(default_factory=list)
    regular_by_hour: dict[int, int] = dataclasses.field(default_factory=dict)

    def add(
        self,
        *,
        status: str,
        service: str,
        hour: int,
        arrived_at: dt.datetime | None,
        called_at: dt.datetime | None,
    ) -> None:
        if status in CANCELLED:
            self.cancellations += 1
            return
        self.booked += 1
        if service == "regular":
            self.regular_by_hour[hour] = self.regular_by_hour.get(hour, 0) + 1
        if arrived_at is not None:
            self.arrived += 1
            if called_at is not None:
                self.waits.append(max(0, round((called_at - arrived_at).total_seconds())))
        if status == Booking.Status.CROSSED:
            self.crossed += 1
        elif status == Booking.Status.NO_SHOW:
            self.no_shows += 1


def tally_bookings(rows: Iterable[tuple], *, local_hour: Callable) -> dict[tuple[int, str], Tally]:
    """Rows of (checkpoint id, direction, service, slot start, status, arrived at, called at)."""
    tallies: dict[tuple[int, str], Tally] = {}
    for checkpoint_id, direction, service, slot_start, status, arrived_at, called_at in rows:
        tallies.setdefault((checkpoint_id, direction), Tally()).add(
            status=status,
            service=service,
            hour=local_hour(slot_start),
            arrived_at=arrived_at,
            called_at=called_at,
        )
    return tallies
