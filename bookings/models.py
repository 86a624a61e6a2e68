"""Bookings of a passage through a checkpoint and the slot holds of the booking form (B1–B11, C5).

A booking keeps everything that must not change once it is made: the checkpoint (B3), the
vehicle and trailer with their VINs as they were (B4, B6), the fee frozen in MRP, MRP value and
tenge (R2), and the place it took (`counter`). One active booking per vehicle and per trailer in
a country is a partial unique constraint on the VIN snapshot (B6), so it holds under any
concurrency and whatever account or plate the truck is registered under.
"""

import datetime as dt
import re

from django.conf import settings
from django.db import models
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from checkpoints.models import Direction
from deposits.statements import luhn_check_digit
from fees.models import Service

MONEY = {"max_digits": 14, "decimal_places": 2}


class RefusalReason(models.TextChoices):
    """Why staff turned a vehicle back at the checkpoint (Q8)."""

    DOCUMENTS = "documents", _("Documents missing or not valid")
    OUT_OF_TURN = "out_of_turn", _("Not eligible for out-of-turn passage")
    OTHER = "other", _("Other")


class BookingService(models.TextChoices):
    """The services a booking is made for (B1): a subset of the fee schedule's services."""

    REGULAR = Service.REGULAR.value, Service.REGULAR.label
    ACCELERATED = Service.ACCELERATED.value, Service.ACCELERATED.label
    OUT_OF_TURN = Service.OUT_OF_TURN.value, Service.OUT_OF_TURN.label


class CargoCategory(models.TextChoices):
    """Who may pass out of turn (B2)."""

    POSTAL = "postal", _("Postal operator")
    LIVE_ANIMALS = "live_animals", _("Live animals")
    PERISHABLE = "perishable", _("Perishable goods")
    DANGEROUS = "dangerous", _("Dangerous goods")
    EXPORT_TRANSIT = "export_transit", _("Kazakh export or transit under a declaration")
    HUMANITARIAN = "humanitarian", _("Humanitarian cargo")
    MILITARY = "military", _("Military cargo")
    DIPLOMATIC = "diplomatic", _("Diplomatic cargo")


CHECK_IN_OPENS = dt.timedelta(hours=3)  # before the slot starts (Q1)
CHECK_IN_CLOSES = dt.timedelta(hours=1)  # after the slot ends; later is a no-show (Q1, D6)
# A vehicle still arrived or called this long after its check-in window closed is closed as
# not crossed (Q8): nothing stays in the waiting area for ever.
NOT_CROSSED_AFTER = dt.timedelta(hours=24)
# Q2: out-of-turn first, then accelerated, then regular.
CALL_PRIORITY = {
    BookingService.OUT_OF_TURN: 0,
    BookingService.ACCELERATED: 1,
    BookingService.REGULAR: 2,
}


class BookingQuerySet(models.QuerySet):
    def in_call_order(self) -> "BookingQuerySet":
        """Q2 as a database ordering: class, then slot start, then the time the booking was
        made."""
        return self.annotate(
            call_class=Case(
                *[
                    When(service=service, then=Value(rank))
                    for service, rank in CALL_PRIORITY.items()
                ],
                output_field=IntegerField(),
            )
        ).order_by("call_class", "slot_start", "created_at", "pk")


class Booking(models.Model):
    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        ARRIVED = "arrived", _("In the waiting area")
        CALLED = "called", _("Called forward")
        CROSSED = "crossed", _("Crossed the border")
        CANCELLED = "cancelled", _("Cancelled")
        NO_SHOW = "no_show", _("No-show")
        CANCELLED_BY_OPERATOR = "cancelled_by_operator", _("Cancelled by the operator")
        # Arrived or called, neither crossed nor refused a day after its check-in window (Q8).
        NOT_CROSSED = "not_crossed", _("Did not cross")
        # Turned back by staff at the checkpoint with a reason; the deposit as for a no-show (Q8).
        REFUSED = "refused", _("Refused at the checkpoint")

    ACTIVE = (Status.CONFIRMED, Status.ARRIVED, Status.CALLED)

    carrier = models.ForeignKey(
        "carriers.Carrier", verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("booked by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="bookings",
    )
    # The checkpoint's country, kept on the booking for the one-active-booking rule (B6).
    country = models.ForeignKey(
        "checkpoints.Country",
        verbose_name=_("country"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    service = models.CharField(_("service"), max_length=12, choices=BookingService.choices)
    slot_start = models.DateTimeField(_("slot start"))
    slot_end = models.DateTimeField(_("slot end"))
    counter = models.ForeignKey(
        "checkpoints.SlotCounter", on_delete=models.PROTECT, related_name="bookings"
    )
    vehicle = models.ForeignKey(
        "vehicles.Vehicle",
        verbose_name=_("vehicle"),
        on_delete=models.PROTECT,
        related_name="bookings",
    )
    vehicle_vin = models.CharField(_("vehicle VIN"), max_length=17)
    vehicle_plate = models.CharField(_("vehicle plate"), max_length=16)
    trailer = models.ForeignKey(
        "vehicles.Vehicle",
        verbose_name=_("trailer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trailer_bookings",
    )
    # NULL (not "") when there is no trailer: the partial unique constraint then skips the row.
    trailer_vin = models.CharField(  # noqa: DJ001
        _("trailer VIN"), max_length=17, null=True, blank=True
    )
    trailer_plate = models.CharField(_("trailer plate"), max_length=16, blank=True)
    drivers = models.ManyToManyField(
        "vehicles.Driver", through="BookingDriver", related_name="bookings"
    )
    cargo_category = models.CharField(
        _("cargo category"), max_length=20, choices=CargoCategory.choices, blank=True
    )
    document_number = models.CharField(_("document number"), max_length=60, blank=True)
    fee_mrp = models.PositiveIntegerField(_("fee, MRP"))
    fee_mrp_value = models.DecimalField(_("MRP value"), **MONEY)
    fee_amount = models.DecimalField(_("fee"), **MONEY)
    deposit_hold = models.OneToOneField(
        "deposits.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="booking"
    )
    status = models.CharField(
        _("status"), max_length=24, choices=Status.choices, default=Status.CONFIRMED
    )
    created_at = models.DateTimeField(_("booked at"), db_index=True)
    status_changed_at = models.DateTimeField(_("status changed at"))
    # At the checkpoint (Q1–Q3): when, and who did it (staff, or a plate camera's key).
    arrived_at = models.DateTimeField(_("arrived at"), null=True, blank=True)
    arrived_by = models.CharField(_("arrival marked by"), max_length=200, blank=True)
    called_at = models.DateTimeField(_("called at"), null=True, blank=True)
    called_by = models.CharField(_("called by"), max_length=200, blank=True)
    crossed_at = models.DateTimeField(_("crossed at"), null=True, blank=True)
    crossed_by = models.CharField(_("crossing marked by"), max_length=200, blank=True)
    refused_at = models.DateTimeField(_("refused at"), null=True, blank=True)
    refused_by = models.CharField(_("refused by"), max_length=200, blank=True)
    refusal_reason = models.CharField(
        _("refusal reason"), max_length=20, choices=RefusalReason.choices, blank=True
    )
    refusal_note = models.CharField(_("refusal note"), max_length=200, blank=True)
    # The driver link's generation (Q5): the link is an HMAC of the booking and this number, so
    # making a new link (the number moved on) revokes the old one; nothing secret is stored.
    driver_link_generation = models.PositiveIntegerField(default=1)
    # The out-of-turn document seen by staff at the checkpoint (Q9).
    document_checked_at = models.DateTimeField(_("document checked at"), null=True, blank=True)
    document_checked_by = models.CharField(_("document checked by"), max_length=200, blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        constraints = [
            models.UniqueConstraint(
                fields=["vehicle_vin", "country"],
                condition=Q(status__in=["confirmed", "arrived", "called"]),
                name="one_active_booking_per_vehicle_and_country",
            ),
            models.UniqueConstraint(
                fields=["trailer_vin", "country"],
                condition=Q(status__in=["confirmed", "arrived", "called"])
                & Q(trailer_vin__isnull=False),
                name="one_active_booking_per_trailer_and_country",
            ),
            models.CheckConstraint(
                condition=~Q(service="out_of_turn")
                | (~Q(cargo_category="") & ~Q(document_number="")),
                name="out_of_turn_names_cargo_and_document",
            ),
            models.CheckConstraint(
                condition=Q(slot_end__gt=models.F("slot_start")), name="slot_ends_after_start"
            ),
        ]
        indexes = [
            models.Index(fields=["checkpoint", "direction", "status"]),
            models.Index(fields=["carrier", "status"]),
            models.Index(fields=["vehicle_vin", "status"]),
            models.Index(fields=["checkpoint", "slot_start"]),
            # The board's "called in the last 2 hours and today" (Q4): only called bookings, so
            # its size is the calls of the window, not the checkpoint's whole history.
            models.Index(
                fields=["checkpoint", "called_at"],
                name="booking_called_at_checkpoint",
                condition=Q(called_at__isnull=False),
            ),
            # The no-show sweep (D6, every 5 minutes): only what can still become a no-show.
            models.Index(
                fields=["slot_end"],
                name="booking_confirmed_slot_end",
                condition=Q(status="confirmed"),
            ),
            # The not-crossed sweep (Q8, hourly): only the vehicles in the waiting area.
            models.Index(
                fields=["slot_end"],
                name="booking_waiting_slot_end",
                condition=Q(status__in=["arrived", "called"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.vehicle_plate} {self.checkpoint.code}"

    @property
    def number(self) -> str:
        """A human-readable number (B11) made from the id, with a check digit against typos."""
        return booking_number(self.pk)

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def check_in_window(self) -> tuple[dt.datetime, dt.datetime]:
        """When the vehicle may check in at the waiting area (Q1): from 3 hours before its
        slot until 1 hour after it ends."""
        return self.slot_start - CHECK_IN_OPENS, self.slot_end + CHECK_IN_CLOSES

    def is_changeable(self, at: dt.datetime | None = None) -> bool:
        """Whether it can still be rescheduled or cancelled (B5, B9): confirmed, and its slot
        not begun at `at` (now by default)."""
        return self.status == self.Status.CONFIRMED and (at or timezone.now()) < self.slot_start


def booking_number(pk: int) -> str:
    """'K-0001234-5': the booking's id in 7+ digits and a Luhn check digit."""
    digits = f"{pk:07d}"
    return f"K-{digits}-{luhn_check_digit(digits)}"


def booking_pk_from_number(number: str) -> int | None:
    """The id behind a number typed or scanned by staff; None when the check digit is wrong."""
    match = re.fullmatch(r"\s*K?-?\s*(\d{7,12})\s*-?\s*(\d)\s*", (number or "").upper())
    if not match or luhn_check_digit(match.group(1)) != int(match.group(2)):
        return None
    return int(match.group(1))


class BookingDriver(models.Model):
    """A driver named on a booking; drivers are only ever added (B4), at most 3 (B1)."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="driver_links")
    driver = models.ForeignKey("vehicles.Driver", on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("added at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["booking", "driver"], name="driver_once_per_booking")
        ]

    def __str__(self) -> str:
        return f"{self.booking_id}: {self.driver_id}"


class BookingChange(models.Model):
    """A reschedule (B5): from where to where, and the re-booking fee it cost."""

    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="changes")
    old_slot_start = models.DateTimeField()
    new_slot_start = models.DateTimeField()
    fee_mrp = models.PositiveIntegerField()
    fee_mrp_value = models.DecimalField(**MONEY)
    fee_amount = models.DecimalField(**MONEY)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.booking_id}: {self.old_slot_start} → {self.new_slot_start}"


class SlotHold(models.Model):
    """A place held for 15 minutes while a person fills in the booking form (C5). It counts
    against capacity (it took a place on the counter) and lapses by itself (`expire_holds`)."""

    TTL_MINUTES = 15

    counter = models.ForeignKey(
        "checkpoints.SlotCounter", on_delete=models.PROTECT, related_name="holds"
    )
    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint", on_delete=models.PROTECT, related_name="+"
    )
    direction = models.CharField(max_length=5, choices=Direction.choices)
    service = models.CharField(max_length=12, choices=BookingService.choices)
    slot_start = models.DateTimeField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"hold {self.checkpoint_id} {self.slot_start} until {self.expires_at}"
