from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.i18n import localized


class Country(models.Model):
    """A neighbouring country whose border Kazakhstan's road checkpoints face (R1)."""

    code = models.CharField(
        _("code"), max_length=2, primary_key=True, validators=[RegexValidator(r"^[A-Z]{2}$")]
    )
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_ru = models.CharField(_("name (Russian)"), max_length=100)
    name_kk = models.CharField(_("name (Kazakh)"), max_length=100)

    class Meta:
        verbose_name = _("country")
        verbose_name_plural = _("countries")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return localized(self, "name")


class Direction(models.TextChoices):
    EXIT = "exit", _("Exit from Kazakhstan")
    ENTRY = "entry", _("Entry into Kazakhstan")


class Checkpoint(models.Model):
    """A road border checkpoint (R1). Daily capacity is per direction (C1)."""

    class CapacitySource(models.TextChoices):
        REPORTED = "reported", _("Reported")
        ASSUMED = "assumed", _("Planning default")

    code = models.CharField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9-]+$", _("Upper-case letters, digits and dashes."))],
    )
    country = models.ForeignKey(
        Country, verbose_name=_("country"), on_delete=models.PROTECT, related_name="checkpoints"
    )
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_ru = models.CharField(_("name (Russian)"), max_length=100)
    name_kk = models.CharField(_("name (Kazakh)"), max_length=100)
    counterpart = models.CharField(_("neighbour's checkpoint"), max_length=100, blank=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    serves_trucks = models.BooleanField(_("serves freight vehicles"), default=True)
    daily_capacity = models.PositiveIntegerField(_("daily capacity per direction"))
    capacity_source = models.CharField(
        _("capacity source"), max_length=10, choices=CapacitySource.choices
    )
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(_("closes at"), null=True, blank=True)
    queue_since = models.DateField(_("electronic queue since"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("checkpoint")
        verbose_name_plural = _("checkpoints")
        ordering = ["country", "name_en"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(opens_at__isnull=True, closes_at__isnull=True)
                    | models.Q(opens_at__isnull=False, closes_at__isnull=False)
                ),
                name="checkpoint_hours_both_or_neither",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def is_open_around_the_clock(self) -> bool:
        return self.opens_at is None


class StaffAssignment(models.Model):
    """A checkpoint staff member works at this checkpoint (A5): they see and act only here.

    Operators assign and unassign people in the admin; both are audited. Neither side cascades:
    a person or checkpoint with assignments is unassigned first, so every removal is recorded.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="checkpoint_assignments",
    )
    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="staff_assignments",
    )
    created_at = models.DateTimeField(_("assigned at"), auto_now_add=True)

    class Meta:
        verbose_name = _("staff assignment")
        verbose_name_plural = _("staff assignments")
        ordering = ["checkpoint", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "checkpoint"], name="staff_assignment_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.checkpoint}"
