"""What the queue keeps of its own for working through an outage (O1, O3; docs/offline.md): each
checkpoint's manifest sequence, and every event a checkpoint device recorded offline."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bookings.models import Booking


class ManifestCounter(models.Model):
    """The sequence number of a checkpoint's last manifest (O1): each manifest issued takes the
    next, so a device can tell a newer manifest from an older one replayed to it."""

    checkpoint = models.OneToOneField(
        "checkpoints.Checkpoint", on_delete=models.PROTECT, related_name="+"
    )
    sequence = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.checkpoint_id}: {self.sequence}"


class OfflineEvent(models.Model):
    """An event a checkpoint device recorded (O2) and delivered (O3), once by its id: the unique
    constraint on `event_id` makes a second delivery, however parallel, a duplicate that changes
    nothing. `outcome` says what the portal did with it; a parked event keeps both versions (the
    device's: `kind`, `occurred_at`, `device_status`; the portal's: `portal_status`,
    `portal_version`) until a person settles it."""

    class Kind(models.TextChoices):
        ARRIVED = "arrived", _("Arrived")
        CALLED = "called", _("Called forward")
        CROSSED = "crossed", _("Crossed")
        REFUSED = "refused", _("Refused")

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Applied")
        ALREADY = "already", _("Already so")
        PARKED = "parked", _("Parked")
        SETTLED = "settled", _("Parked, settled")

    event_id = models.UUIDField(_("event id"), unique=True)
    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    device = models.ForeignKey(
        "checkpoints.DeviceReport",
        verbose_name=_("device"),
        on_delete=models.PROTECT,
        related_name="events",
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    booking = models.ForeignKey(
        "bookings.Booking",
        verbose_name=_("booking"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    booking_number = models.CharField(_("booking number"), max_length=30)
    kind = models.CharField(_("event"), max_length=10, choices=Kind.choices)
    occurred_at = models.DateTimeField(_("happened at (device time)"))
    received_at = models.DateTimeField(_("received at"))
    reason = models.CharField(_("refusal reason"), max_length=20, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    device_status = models.CharField(_("status on the device"), max_length=24, blank=True)
    portal_status = models.CharField(_("status at the portal"), max_length=24, blank=True)
    portal_version = models.JSONField(_("the portal's version"), default=dict, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    detail = models.CharField(_("why"), max_length=300, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("settled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    settlement = models.CharField(_("settlement"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("offline event")
        verbose_name_plural = _("offline events")
        indexes = [
            models.Index(fields=["checkpoint", "outcome"]),
            models.Index(fields=["booking"]),
        ]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M}"
        return f"{self.booking_number} {self.kind} {when} ({self.outcome})"


class HeldBackBooking(Booking):
    """A booking the no-show sweep leaves alone because its checkpoint's devices have not
    reported since its check-in window ended (O4): in the admin, operators see them and settle
    them by hand when the devices are not coming back."""

    class Meta:
        proxy = True
        verbose_name = _("booking held back from the no-show sweep")
        verbose_name_plural = _("bookings held back from the no-show sweep")
