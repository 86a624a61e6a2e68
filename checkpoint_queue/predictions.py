"""When a vehicle will be called forward (Q6), by a rule a person can check by hand:

    wait = vehicles ahead of it ÷ calls per hour,   called at ≈ max(now + wait, its slot start)

- *Vehicles ahead*: for a vehicle in the waiting area, those before it in the call order (Q2);
  for one not arrived yet, the active bookings before it in that order with a slot no later than
  its own (they will be there first).
- *Calls per hour* of the checkpoint and direction: the calls of the last CALL_RATE_HOURS,
  smoothed with PRIOR_HOURS of the planned places per hour this hour (the rules' capacity, C1),
  so a quiet start or a short history does not swing the estimate:
  (calls in the window + planned per hour × PRIOR_HOURS) ÷ (CALL_RATE_HOURS + PRIOR_HOURS).

One rule for every reader: the booking page, the driver link and its API ask for one booking
(`predicted_call_at`); the live board asks for a whole waiting area at once (`call_rates` once
per checkpoint, then `expected_call` per vehicle), so its queries do not grow with the queue.

Its accuracy is what bench measures on replayed days, not something assumed here."""

import datetime as dt
from collections.abc import Iterable

from django.db.models import Count

from bookings.models import Booking
from checkpoints.models import Checkpoint, SlotCounter
from core import clock

CALL_RATE_HOURS = 1
PRIOR_HOURS = 1


def _planned_per_hour(
    checkpoint: Checkpoint, directions: list[str], now: dt.datetime
) -> dict[str, float]:
    """The places the rules give this hour in each direction: the hour's regular counter where
    one exists, else the daily capacity spread over the day (one query)."""
    local = now.astimezone(clock.ALMATY)
    counters = dict(
        SlotCounter.objects.filter(
            checkpoint_id=checkpoint.pk,
            direction__in=directions,
            date=local.date(),
            hour=local.hour,
            kind="regular",
        ).values_list("direction", "planned")
    )
    spread = checkpoint.daily_capacity / 24
    return {direction: float(counters.get(direction, spread)) for direction in directions}


def _recent_calls(checkpoint: Checkpoint, directions: list[str], now: dt.datetime) -> dict:
    """The calls of the last CALL_RATE_HOURS in each direction (one query)."""
    return dict(
        Booking.objects.filter(
            checkpoint_id=checkpoint.pk,
            direction__in=directions,
            called_at__gt=now - dt.timedelta(hours=CALL_RATE_HOURS),
            called_at__lte=now,
        )
        .values("direction")
        .annotate(calls=Count("pk"))
        .values_list("direction", "calls")
    )


def call_rates(
    *, checkpoint: Checkpoint, directions: Iterable[str], now: dt.datetime
) -> dict[str, float]:
    """Calls per hour in each direction at the checkpoint as of `now` (two queries)."""
    directions = list(directions)
    if not directions:
        return {}
    planned = _planned_per_hour(checkpoint, directions, now)
    recent = _recent_calls(checkpoint, directions, now)
    return {
        direction: (recent.get(direction, 0) + planned[direction] * PRIOR_HOURS)
        / (CALL_RATE_HOURS + PRIOR_HOURS)
        for direction in directions
    }


def planned_per_hour(booking: Booking, now: dt.datetime) -> float:
    """The places the rules give this hour at the booking's checkpoint and direction."""
    return _planned_per_hour(booking.checkpoint, [booking.direction], now)[booking.direction]


def calls_per_hour(booking: Booking, now: dt.datetime) -> float:
    return call_rates(checkpoint=booking.checkpoint, directions=[booking.direction], now=now)[
        booking.direction
    ]


def vehicles_ahead(booking: Booking) -> int:
    queue = Booking.objects.filter(checkpoint_id=booking.checkpoint_id, direction=booking.direction)
    if booking.status == Booking.Status.ARRIVED:
        queue = queue.filter(status=Booking.Status.ARRIVED)
    else:
        queue = queue.filter(
            status__in=[Booking.Status.CONFIRMED, Booking.Status.ARRIVED],
            slot_start__lte=booking.slot_start,
        )
    order = list(queue.in_call_order().values_list("pk", flat=True))
    return order.index(booking.pk) if booking.pk in order else len(order)


def expected_call(
    *, ahead: int, rate: float, slot_start: dt.datetime, now: dt.datetime
) -> dt.datetime | None:
    """The rule itself: now + ahead ÷ rate hours, never before the slot, to the minute; None
    when the checkpoint plans no place at all (no pace to divide by)."""
    if rate <= 0:
        return None
    expected = max(now + dt.timedelta(hours=ahead / rate), slot_start)
    return expected.replace(second=0, microsecond=0)


def predicted_call_at(booking: Booking, now: dt.datetime | None = None) -> dt.datetime | None:
    """The expected moment of the call, to the minute, for a booking still waiting for it
    (confirmed or arrived); None otherwise, or when the checkpoint plans no place at all."""
    if booking.status not in (Booking.Status.CONFIRMED, Booking.Status.ARRIVED):
        return None
    now = now or clock.now()
    return expected_call(
        ahead=vehicles_ahead(booking),
        rate=calls_per_hour(booking, now),
        slot_start=booking.slot_start,
        now=now,
    )
