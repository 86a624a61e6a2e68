"""Fair release (F1–F8): each checkpoint's policy, the release windows of a day and direction,
the requests carriers place in them, and the places a window keeps back until its draw.

A window publishes its commitment C = SHA-256(secret) when it is made, days before it opens; the
secret itself stays private (never shown by any page or API) until the draw. At the draw the
window is marked drawn by one conditional UPDATE (`status = 'scheduled'` → `'drawn'`) in the
draw's transaction: that is what makes the draw run exactly once (F5), whatever the retries or
parallel workers.
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from checkpoints.models import Direction

DEFAULT_RELEASE_TIME = dt.time(10, 0)


class ReleaseMode(models.TextChoices):
    # First-come is the default: a checkpoint keeps booking as before until an operator turns
    # the draw on for it (F8).
    FIRST_COME = "first_come", _("First come, first served")
    DRAW = "draw", _("Draw among requests")


class ReleasePolicy(models.Model):
    """How one checkpoint releases its days (F1, F3, F8); a checkpoint without one releases
    first-come with the defaults below."""

    checkpoint = models.OneToOneField(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="release_policy",
    )
    mode = models.CharField(
        _("release"), max_length=12, choices=ReleaseMode.choices, default=ReleaseMode.FIRST_COME
    )
    # F1: a day opens this many days before it, at `release_time` (Almaty). 29 by default: the
    # day's last hour is then inside the 30-day booking window (C4) when the draw books it.
    days_before = models.PositiveSmallIntegerField(_("days before the day"), default=29)
    release_time = models.TimeField(_("release time (Almaty)"), default=DEFAULT_RELEASE_TIME)
    window_minutes = models.PositiveSmallIntegerField(_("request window, minutes"), default=60)
    # F3: a carrier's requests for one day and direction: the larger of these two.
    carrier_share_percent = models.PositiveSmallIntegerField(
        _("carrier share, per cent of the day's places"), default=10
    )
    carrier_share_min = models.PositiveSmallIntegerField(_("carrier share, at least"), default=2)
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("release policy")
        verbose_name_plural = _("release policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(window_minutes__gte=5, window_minutes__lte=24 * 60),
                name="release_window_length_sane",
            ),
            models.CheckConstraint(
                condition=Q(carrier_share_percent__gte=1, carrier_share_percent__lte=100),
                name="release_share_is_a_percentage",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_id}: {self.mode}"


class ReleaseWindow(models.Model):
    """The request window of one checkpoint, direction and day, and its draw (F1, F4, F6)."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        DRAWN = "drawn", _("Drawn")
        # The operator switched the checkpoint to first-come before the window opened (F8).
        CANCELLED = "cancelled", _("Cancelled")

    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="release_windows",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    day = models.DateField(_("day"))
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"), db_index=True)
    # F3: how many live requests one carrier may have in this window.
    carrier_limit = models.PositiveIntegerField(_("requests per carrier"))
    commitment = models.CharField(_("commitment C = SHA-256(secret)"), max_length=64)
    # Private until the draw: no page, API or admin screen shows it before `drawn_at`.
    secret = models.CharField(max_length=64)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.SCHEDULED
    )
    created_at = models.DateTimeField(_("published at"))
    drawn_at = models.DateTimeField(_("drawn at"), null=True, blank=True)
    request_count = models.PositiveIntegerField(_("requests"), null=True, blank=True)
    merkle_root = models.CharField(_("Merkle root R"), max_length=64, blank=True)
    seed = models.CharField(_("seed"), max_length=64, blank=True)
    # The free places of each pool at the draw ("regular:09", "accelerated", "out_of_turn") and
    # the hours a priority request could name: what the allocation was run against (F6).
    places = models.JSONField(_("places at the draw"), null=True, blank=True)
    open_hours = models.JSONField(_("open hours at the draw"), null=True, blank=True)

    class Meta:
        verbose_name = _("release window")
        verbose_name_plural = _("release windows")
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "day"], name="release_window_once_per_day"
            ),
            models.CheckConstraint(
                condition=Q(closes_at__gt=models.F("opens_at")), name="release_window_closes_after"
            ),
        ]
        indexes = [models.Index(fields=["status", "closes_at"])]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.direction} {self.day}"

    def is_open(self, at: dt.datetime) -> bool:
        return self.status == self.Status.SCHEDULED and self.opens_at <= at < self.closes_at


class Reservation(models.Model):
    """Places of a counter a window keeps back from first-come booking: until its draw (F1), and
    after it, a place freed on its day until the waitlist has been offered it (F7)."""

    window = models.ForeignKey(ReleaseWindow, on_delete=models.PROTECT, related_name="reserved")
    counter = models.ForeignKey(
        "checkpoints.SlotCounter", on_delete=models.PROTECT, related_name="+"
    )
    places = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["window", "counter"], name="reservation_once"),
        ]

    def __str__(self) -> str:
        return f"{self.window_id}: {self.counter_id} × {self.places}"


class ReleaseRequest(models.Model):
    """A carrier's request for a place in a window's draw (F2); holds no place and no money."""

    class Status(models.TextChoices):
        LIVE = "live", _("Waiting for the draw")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        WON = "won", _("Won: booked")
        UNSUCCESSFUL = "unsuccessful", _("Unsuccessful")
        # F5: could no longer pay, or the vehicle got a booking in the country meanwhile.
        SKIPPED = "skipped", _("Skipped at the draw")
        # F7: unsuccessful at the draw, booked later with a place freed on its day.
        WAITLIST_WON = "waitlist_won", _("Booked from the waitlist")

    window = models.ForeignKey(
        ReleaseWindow, verbose_name=_("window"), on_delete=models.PROTECT, related_name="requests"
    )
    carrier = models.ForeignKey(
        "carriers.Carrier", verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    # The window's country, kept for B6 among requests (a partial unique constraint).
    country = models.ForeignKey("checkpoints.Country", on_delete=models.PROTECT, related_name="+")
    service = models.CharField(_("service"), max_length=12)
    hours = models.JSONField(_("acceptable hours, in order of preference"))
    vehicle = models.ForeignKey(
        "vehicles.Vehicle", verbose_name=_("vehicle"), on_delete=models.PROTECT, related_name="+"
    )
    vehicle_vin = models.CharField(max_length=17)
    trailer = models.ForeignKey(
        "vehicles.Vehicle",
        verbose_name=_("trailer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    trailer_vin = models.CharField(max_length=17, null=True, blank=True)  # noqa: DJ001
    driver_ids = models.JSONField(_("drivers"))
    cargo_category = models.CharField(max_length=20, blank=True)
    document_number = models.CharField(max_length=60, blank=True)
    # F6: the carrier's name is hidden behind SHA-256("<id>:<salt>"); only the carrier sees the
    # salt, so only it can match the published hash to its request.
    salt = models.CharField(max_length=32)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.LIVE
    )
    skip_reason = models.CharField(_("why skipped"), max_length=40, blank=True)
    # F7: an unsuccessful request waits for a place freed on its day (the waitlist) until it
    # gets one, the day has passed, or its carrier takes it off the waitlist (this moment).
    waitlist_left_at = models.DateTimeField(_("taken off the waitlist at"), null=True, blank=True)
    rank = models.CharField(_("rank"), max_length=64, blank=True)
    hour_won = models.SmallIntegerField(_("hour won"), null=True, blank=True)
    booking = models.OneToOneField(
        "bookings.Booking", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("requested at"))
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("release request")
        verbose_name_plural = _("release requests")
        constraints = [
            # B6 with requests counted as bookings: one live request per vehicle (and trailer)
            # per country, whatever the concurrency.
            models.UniqueConstraint(
                fields=["vehicle_vin", "country"],
                condition=Q(status="live"),
                name="one_live_request_per_vehicle_and_country",
            ),
            models.UniqueConstraint(
                fields=["trailer_vin", "country"],
                condition=Q(status="live") & Q(trailer_vin__isnull=False),
                name="one_live_request_per_trailer_and_country",
            ),
        ]
        indexes = [
            models.Index(fields=["window", "status"]),
            models.Index(
                fields=["window", "rank"],
                condition=Q(status="unsuccessful", waitlist_left_at__isnull=True),
                name="release_waitlist",
            ),
            models.Index(fields=["carrier", "window"]),
        ]

    def __str__(self) -> str:
        return f"request {self.pk} ({self.window_id})"
