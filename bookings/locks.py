"""The row locks of bookings (docs/locking.md has the order across apps: a booking first, then
the slot counters, then the balance rows). Each takes only the booking rows (`of=("self",)`),
never a checkpoint or a vehicle read with them, and FOR NO KEY UPDATE: a booking's keys never
change, so rows that refer to it (drivers, messages) can still be added meanwhile."""

from django.db.models import QuerySet

from bookings.models import Booking
from carriers.models import Carrier, Member
from core.locks import for_update


def member_holding(member_pk: int) -> None:
    """The person taking a slot hold (C5), before any slot counter: the person's holds change
    one request at a time, so two hours chosen at once never leave two holds."""
    rows = Member.objects.filter(pk=member_pk)
    list(for_update(rows, no_key=True).values_list("pk", flat=True))


def booking_of_carrier(booking_pk: int, carrier: Carrier) -> Booking | None:
    """The carrier's own booking, for a change the carrier makes (B4, B5, B9)."""
    rows = Booking.objects.filter(pk=booking_pk, carrier=carrier)
    return for_update(rows, no_key=True, of=("self",)).first()


def booking_with_checkpoint(booking_pk: int) -> Booking:
    """A booking and (read, not locked) its checkpoint, for a step at the checkpoint (Q1–Q3)."""
    rows = Booking.objects.select_related("checkpoint").filter(pk=booking_pk)
    return for_update(rows, no_key=True, of=("self",)).get()


def next_in_queue(waiting: QuerySet[Booking], count: int) -> list[Booking]:
    """The first `count` of `waiting` (in the call order Q2) that no other call holds: two staff
    calling at once call different vehicles, neither waits for the other."""
    return list(for_update(waiting, no_key=True, skip_locked=True, of=("self",))[:count])


def confirmed_booking_unless_held(booking_pk: int) -> Booking | None:
    """The booking, with its deposit hold, if still confirmed and not held by another sweep."""
    rows = Booking.objects.filter(pk=booking_pk, status=Booking.Status.CONFIRMED)
    rows = rows.select_related("deposit_hold")
    return for_update(rows, no_key=True, skip_locked=True, of=("self",)).first()


def bookings_in_order(bookings: QuerySet[Booking]) -> list[Booking]:
    """All of `bookings`, locked in id order (a closure cancels them, C3)."""
    return list(for_update(bookings.order_by("pk"), no_key=True, of=("self",)))


def waiting_booking_unless_held(booking_pk: int) -> Booking | None:
    """The booking, with its deposit hold, if still arrived or called and not held by another
    sweep or by staff acting on it."""
    rows = Booking.objects.filter(
        pk=booking_pk, status__in=[Booking.Status.ARRIVED, Booking.Status.CALLED]
    ).select_related("deposit_hold")
    return for_update(rows, no_key=True, skip_locked=True, of=("self",)).first()
