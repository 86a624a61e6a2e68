from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from carriers.models import Carrier
from vehicles.plates import format_plate


class Vehicle(models.Model):
    """A truck, a tractor unit or a trailer of a carrier.

    The plate and the VIN are stored normalised (vehicles.plates). The VIN identifies the vehicle
    across carriers (B6, enforced on bookings); a carrier registers a VIN once while it is active.
    Vehicles are never deleted, only deactivated: bookings refer to them.
    """

    class Kind(models.TextChoices):
        TRUCK = "truck", _("Truck")
        TRACTOR = "tractor", _("Tractor unit")
        TRAILER = "trailer", _("Trailer")

    carrier = models.ForeignKey(
        Carrier, verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="vehicles"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    plate = models.CharField(_("plate"), max_length=12, db_index=True)
    registration_country = models.CharField(_("registration country"), max_length=2, default="KZ")
    vin = models.CharField(_("VIN"), max_length=17, db_index=True)
    make_model = models.CharField(_("make and model"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "vin"],
                condition=Q(is_active=True),
                name="vehicle_vin_once_per_carrier",
            ),
            models.UniqueConstraint(
                fields=["carrier", "registration_country", "plate"],
                condition=Q(is_active=True),
                name="vehicle_plate_once_per_carrier",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["truck", "tractor", "trailer"]), name="vehicle_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plate_display} ({self.registration_country}, {self.get_kind_display()})"

    @property
    def plate_display(self) -> str:
        return format_plate(self.plate, self.registration_country)


class Driver(models.Model):
    """A driver of a carrier, identified by a Kazakh IIN or a passport (number and citizenship).

    Never deleted, only deactivated: bookings name their drivers (B4).
    """

    carrier = models.ForeignKey(
        Carrier, verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="drivers"
    )
    full_name = models.CharField(_("full name"), max_length=200)
    # NULL, not "", when absent: the CHECK and the unique constraints below hold only for values.
    iin = models.CharField(_("IIN"), max_length=12, null=True, blank=True)  # noqa: DJ001
    passport_number = models.CharField(  # noqa: DJ001
        _("passport number"), max_length=20, null=True, blank=True
    )
    citizenship = models.CharField(_("citizenship"), max_length=2)
    phone = models.CharField(_("phone"), max_length=16)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("driver")
        verbose_name_plural = _("drivers")
        constraints = [
            models.CheckConstraint(
                condition=(Q(iin__isnull=False) & ~Q(iin=""))
                | (Q(passport_number__isnull=False) & ~Q(passport_number="")),
                name="driver_has_iin_or_passport",
            ),
            models.UniqueConstraint(
                fields=["carrier", "iin"],
                condition=Q(iin__isnull=False, is_active=True),
                name="driver_iin_once_per_carrier",
            ),
            models.UniqueConstraint(
                fields=["carrier", "passport_number", "citizenship"],
                condition=Q(passport_number__isnull=False, is_active=True),
                name="driver_passport_once_per_carrier",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def identity_masked(self) -> str:
        """The IIN (or passport number) with all but its last 4 characters hidden, as staff at
        the checkpoint see it (Q9)."""
        number = self.iin or self.passport_number or ""
        return "•" * max(len(number) - 4, 0) + number[-4:]
