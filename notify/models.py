"""The outbox of messages to people (B12): SMS or Telegram, written with the change they tell of.

A message row is inserted in the same transaction as the booking change it announces, so a change
that is rolled back leaves no message and a committed one always has its message. Delivery happens
after commit (notify.services.deliver): a worker claims the row for a while (`sending` with a
lease), talks to the provider outside any transaction, then records the outcome. A failed delivery
is retried with a growing delay and never touches the booking.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Message(models.Model):
    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        TELEGRAM = "telegram", _("Telegram")

    class Kind(models.TextChoices):
        BOOKING_CREATED = "booking_created", _("Booking made")
        BOOKING_RESCHEDULED = "booking_rescheduled", _("Booking rescheduled")
        BOOKING_REMINDER = "booking_reminder", _("Reminder before the slot")
        BOOKING_CALLED = "booking_called", _("Called forward")
        BOOKING_CROSSED = "booking_crossed", _("Crossed the border")
        DEPOSIT_RELEASED = "deposit_released", _("Deposit released")
        DEPOSIT_FORFEITED = "deposit_forfeited", _("Deposit forfeited")
        BOOKING_CANCELLED_BY_OPERATOR = (
            "booking_cancelled_by_operator",
            _("Booking cancelled by the operator"),
        )
        # Told to the carrier's owners (A8): money, access and people of the carrier changed.
        REFUND_REQUESTED = "refund_requested", _("Refund requested")
        API_TOKEN_CREATED = "api_token_created", _("API token made")
        MEMBER_JOINED = "member_joined", _("Member joined")
        # A carrier from abroad, after the operator's check of its documents (A7).
        CARRIER_CONFIRMED = "carrier_confirmed", _("Carrier confirmed")
        CARRIER_REFUSED = "carrier_refused", _("Carrier's documents refused")
        # Told to the booking's drivers, on the phone of their driver record (Q7).
        DRIVER_NEAR = "driver_near", _("Driver: nearly your turn")
        DRIVER_CALLED = "driver_called", _("Driver: called forward")
        DRIVER_LINK = "driver_link", _("Driver: the booking's link")
        # Told to the person whose sign-in factor was added, replaced or removed (A8).
        FACTOR_CHANGED = "factor_changed", _("Sign-in factor changed")
        # The outcome of a draw (F5) for a request that got no place or was passed over.
        RELEASE_UNSUCCESSFUL = "release_unsuccessful", _("Draw: no place")
        RELEASE_SKIPPED = "release_skipped", _("Draw: request passed over")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        # Claimed by a worker until `lease_until`; a lapsed lease makes it deliverable again.
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    # A person of the carrier; None for a message to a booking's driver (who is not a user).
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # No index: nothing looks messages up by driver (the once-only key does), and building one
    # would lock the outbox's table while it is built.
    driver = models.ForeignKey(
        "vehicles.Driver",
        verbose_name=_("driver"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # An E.164 phone for SMS, a chat id for Telegram: where it went, as it was at the time.
    address = models.CharField(_("address"), max_length=32)
    language = models.CharField(_("language"), max_length=2)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    body = models.TextField(_("text"))
    booking = models.ForeignKey(
        "bookings.Booking",
        verbose_name=_("booking"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Once-only messages (a reminder per booking and slot) carry a key; NULL for the others.
    dedupe_key = models.CharField(
        _("deduplication key"), max_length=120, unique=True, null=True, blank=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    # The claim of the worker sending it: who (a random token) and until when.
    claim_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    provider_id = models.CharField(_("provider's message id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        permissions = [("retry_message", _("Can retry failed messages"))]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["booking", "kind"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_until__isnull=False),
                name="message_sending_has_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} → {self.channel} {self.address} ({self.status})"
