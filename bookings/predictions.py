"""When a vehicle will be called forward (Q6), by a rule a person can check by hand:

    wait = vehicles ahead of it ÷ calls per hour,   called at ≈ max(now + wait, its slot start)

- *Vehicles ahead*: for a vehicle in the waiting area, those before it in the call order (Q2);
  for one not arrived yet, the active bookings before it in that order with a slot no later than
  its own (they will be there first).
- *Calls per hour* of the checkpoint and direction: the calls of the last CALL_RATE_HOURS,
  smoothed with PRIOR_HOURS of the planned places per hour this hour (the rules' capacity, C1),
  so a quiet start or a short history does not swing the estimate:
  (calls in the window + planned per hour × PRIOR_HOURS) ÷ (CALL_RATE_HOURS + PRIOR_HOURS).

Its accuracy is what bench measures on replayed days, not something assumed here."""

import datetime as dt

from bookings.models import Booking
from checkpoints.models import SlotCounter
from core import clock

CALL_RATE_HOURS = 1
PRIOR_HOURS = 1


def planned_per_hour(booking: Booking, now: dt.datetime) -> float:
    """The places the rules give this hour at the booking's checkpoint and direction: the hour's
    regular counter where one exists, else the daily capacity spread over the day."""
    local = now.astimezone(clock.ALMATY)
    planned = (
        SlotCounter.objects.filter(
            checkpoint_id=booking.checkpoint_id,
            direction=booking.direction,
            date=local.date(),
            hour=local.hour,
            kind="regular",
        )
        .values_list("planned", flat=True)
        .first()
    )
    return float(planned) if planned is not None else booking.checkpoint.daily_capacity / 24


def calls_per_hour(booking: Booking, now: dt.datetime) -> float:
    recent = Booking.objects.filter(
        checkpoint_id=booking.checkpoint_id,
        direction=booking.direction,
        called_at__gt=now - dt.timedelta(hours=CALL_RATE_HOURS),
        called_at__lte=now,
    ).count()
    prior = planned_per_hour(booking, now) * PRIOR_HOURS
    return (recent + prior) / (CALL_RATE_HOURS + PRIOR_HOURS)


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


def predicted_call_at(booking: Booking, now: dt.datetime | None = None) -> dt.datetime | None:
    """The expected moment of the call, to the minute, for a booking still waiting for it
    (confirmed or arrived); None otherwise, or when the checkpoint plans no place at all."""
    if booking.status not in (Booking.Status.CONFIRMED, Booking.Status.ARRIVED):
        return None
    now = now or clock.now()
    rate = calls_per_hour(booking, now)
    if rate <= 0:
        return None
    expected = max(now + dt.timedelta(hours=vehicles_ahead(booking) / rate), booking.slot_start)
    return expected.replace(second=0, microsecond=0)
