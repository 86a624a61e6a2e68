import datetime as dt
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Prefetch, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import ngettext

from bookings.models import Booking, BookingChange, BookingDriver, SlotHold, booking_number
from core import clock
from core.notices import Notice


def bookings_of(carrier, *, active_only: bool = False) -> QuerySet[Booking]:
    """The carrier's bookings with everything their answer shows, in a fixed number of queries:
    newest slot first."""
    rebooking_fees = (
        BookingChange.objects.filter(booking=OuterRef("pk"))
        .values("booking")
        .annotate(s=Sum("fee_amount"))
        .values("s")
    )
    bookings = (
        Booking.objects.filter(carrier=carrier)
        .select_related("checkpoint", "country", "vehicle", "trailer", "deposit_hold__resolution")
        .prefetch_related(
            Prefetch(
                "driver_links",
                queryset=BookingDriver.objects.select_related("driver").order_by("added_at", "pk"),
            )
        )
        .annotate(
            rebooking_fees=Coalesce(
                Subquery(
                    rebooking_fees, output_field=DecimalField(max_digits=14, decimal_places=2)
                ),
                Value(Decimal("0.00")),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            )
        )
        .order_by("-slot_start", "-pk")
    )
    if active_only:
        bookings = bookings.filter(status__in=Booking.ACTIVE)
    return bookings


def deposit_status(booking: Booking) -> str:
    """held | released | forfeited (API.md), from the deposit hold's resolution."""
    hold = booking.deposit_hold
    if hold is None:
        return "released"
    resolution = getattr(hold, "resolution", None)
    return resolution.outcome if resolution is not None else "held"


def cancellation_consequence(*, booking: Booking) -> str:
    """What cancelling now would do to the deposit (shown before the person confirms, D3)."""
    from bookings.services import strikes_before

    strikes = strikes_before(vin=booking.vehicle_vin, moment=clock.now(), excluding=booking.pk)
    return "forfeited" if strikes else "released"


# A booking keeps its place until it is cancelled; one that crossed or was a no-show used it.
PLACE_FREED = (Booking.Status.CANCELLED, Booking.Status.CANCELLED_BY_OPERATOR)


def bookings_per_counter(counters) -> dict[int, int]:
    """Places taken by bookings, per slot counter (for verify_capacity, C6)."""
    from django.db.models import Count

    return dict(
        Booking.objects.filter(counter__in=counters)
        .exclude(status__in=PLACE_FREED)
        .values("counter")
        .annotate(n=Count("pk"))
        .values_list("counter", "n")
    )


def holds_per_counter(counters) -> dict[int, int]:
    """Places held by booking forms (C5), per slot counter. A lapsed hold still holds its place
    until `expire_holds` frees it, so every row counts."""
    from django.db.models import Count

    from bookings.models import SlotHold

    return dict(
        SlotHold.objects.filter(counter__in=counters)
        .values("counter")
        .annotate(n=Count("pk"))
        .values_list("counter", "n")
    )


# --- Reads for the booking pages ------------------------------------------------------------------


def booking_of(carrier, pk: int) -> Booking | None:
    """One booking of the carrier with what its page shows; None for another carrier's."""
    return bookings_of(carrier).filter(pk=pk).first()


def changes_of(booking: Booking) -> QuerySet[BookingChange]:
    """The reschedules of a booking (B5), oldest first, with the re-booking fee each cost."""
    return BookingChange.objects.filter(booking=booking).order_by("changed_at", "pk")


def hold_of(user, *, checkpoint, direction: str, service: str, slot_start) -> SlotHold | None:
    """The person's hold of this slot (C5), lapsed or not: the booking form confirms with it
    (a lapsed one is refused by `booking_create` with hold_expired)."""
    return (
        SlotHold.objects.filter(
            created_by=user,
            checkpoint=checkpoint,
            direction=direction,
            service=service,
            slot_start=slot_start,
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def active_bookings_by_vin(carrier, *, country: str) -> dict[str, str]:
    """{VIN: booking number} of the carrier's active bookings in a country (B6), for vehicles
    and trailers alike: the booking form names the vehicles that cannot be booked there now."""
    found: dict[str, str] = {}
    rows = Booking.objects.filter(
        carrier=carrier, country_id=country, status__in=Booking.ACTIVE
    ).values_list("pk", "vehicle_vin", "trailer_vin")
    for pk, vehicle_vin, trailer_vin in rows:
        number = booking_number(pk)
        found[vehicle_vin] = number
        if trailer_vin:
            found[trailer_vin] = number
    return found


def live_hold_of(user, *, now=None) -> SlotHold | None:
    """The place the person holds now (C5): one at a time, until its 15 minutes are over."""
    now = now or clock.now()
    return (
        SlotHold.objects.filter(created_by=user, expires_at__gt=now)
        .select_related("checkpoint")
        .order_by("-created_at", "-pk")
        .first()
    )


# How long the operators are shown the vehicles closed as not crossed (Q8).
NOT_CROSSED_NOTICE_DAYS = 7


def not_crossed_notices(moment: dt.datetime) -> list[Notice]:
    """The operator notice of vehicles closed as not crossed in the last week (Q8): something at
    the checkpoint went unfinished (a crossing not marked, a vehicle not refused)."""
    since = moment - dt.timedelta(days=NOT_CROSSED_NOTICE_DAYS)
    closed = Booking.objects.filter(
        status=Booking.Status.NOT_CROSSED, status_changed_at__gt=since
    ).order_by("status_changed_at", "pk")
    numbers = [booking_number(pk) for pk in closed.values_list("pk", flat=True)[:11]]
    if not numbers:
        return []
    count = closed.count()
    shown = ", ".join(numbers[:10]) + (" …" if count > 10 else "")
    message = ngettext(
        "%(count)s vehicle was closed as not crossed in the last %(days)s days "
        "(arrived or called, neither crossed nor refused): %(numbers)s.",
        "%(count)s vehicles were closed as not crossed in the last %(days)s days "
        "(arrived or called, neither crossed nor refused): %(numbers)s.",
        count,
    ) % {"count": count, "days": NOT_CROSSED_NOTICE_DAYS, "numbers": shown}
    return [
        Notice(code="bookings_not_crossed", message=message, permission="bookings.change_booking")
    ]
