from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.i18n import localized


class Service(models.TextChoices):
    """What a fee is charged for (R3)."""

    REGULAR = "regular", _("Regular queue")
    ACCELERATED = "accelerated", _("Accelerated passage")
    OUT_OF_TURN = "out_of_turn", _("Out-of-turn passage")
    REBOOKING = "rebooking", _("Re-booking")
    DEPOSIT = "deposit", _("Guarantee deposit")


class MrpRate(models.Model):
    """The monthly calculation index (MRP) of a calendar year, in tenge (R2)."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    value = models.DecimalField(
        _("MRP, tenge"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        verbose_name = _("MRP")
        verbose_name_plural = _("MRP by year")
        ordering = ["-year"]
        constraints = [models.CheckConstraint(condition=models.Q(value__gt=0), name="mrp_positive")]

    def __str__(self) -> str:
        return f"{self.year}: {self.value} ₸"


class FeeSchedule(models.Model):
    """The fees in MRP in force from a date, with their legal basis (R3)."""

    effective_from = models.DateField(_("in force from"), unique=True)
    basis_en = models.TextField(_("legal basis (English)"))
    basis_ru = models.TextField(_("legal basis (Russian)"))
    basis_kk = models.TextField(_("legal basis (Kazakh)"))

    class Meta:
        verbose_name = _("fee schedule")
        verbose_name_plural = _("fee schedules")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return str(_("Fees in force from %(date)s") % {"date": self.effective_from})

    @property
    def basis(self) -> str:
        return localized(self, "basis")


class FeeItem(models.Model):
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="items")
    service = models.CharField(_("service"), max_length=12, choices=Service.choices)
    mrp = models.PositiveIntegerField(_("MRP count"))

    class Meta:
        verbose_name = _("fee")
        verbose_name_plural = _("fees")
        constraints = [
            models.UniqueConstraint(fields=["schedule", "service"], name="fee_item_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_service_display()}: {self.mrp} MRP"
