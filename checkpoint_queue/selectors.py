"""Reads of the queue at a checkpoint (Q1–Q4): what a plate camera reports about, what staff
find and see of the waiting area."""

import dataclasses
import datetime as dt

from django.db.models import Case, IntegerField, Prefetch, Q, Value, When
from django.utils.translation import gettext as _

from bookings.models import Booking, BookingDriver, booking_number, booking_pk_from_number
from checkpoints.models import Checkpoint, Direction
from core import clock
from core.errors import ApplicationError
from vehicles.plates import normalize_plate


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


def queue_position(booking: Booking) -> int | None:
    """The booking's place in its checkpoint-direction's waiting queue (Q2 order, 1 = next),
    while it waits there; None otherwise."""
    if booking.status != Booking.Status.ARRIVED:
        return None
    order = list(
        Booking.objects.filter(
            checkpoint_id=booking.checkpoint_id,
            direction=booking.direction,
            status=Booking.Status.ARRIVED,
        )
        .in_call_order()
        .values_list("pk", flat=True)
    )
    return order.index(booking.pk) + 1 if booking.pk in order else None
