import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
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


class CheckpointQuerySet(models.QuerySet):
    def bookable(self) -> "CheckpointQuerySet":
        """Checkpoints that take bookings: active and serving freight vehicles (R1)."""
        return self.filter(is_active=True, serves_trucks=True)


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
    # The checkpoint's public page (W4): each text in the three languages of the site; a
    # language left empty shows one of the others, and a block with no text is not shown.
    # `counterpart` holds the neighbour's name as the reference data has it (Latin script).
    counterpart_kk = models.CharField(
        _("neighbour's checkpoint (Kazakh)"), max_length=100, blank=True
    )
    counterpart_ru = models.CharField(
        _("neighbour's checkpoint (Russian)"), max_length=100, blank=True
    )
    hours_note_kk = models.CharField(
        _("about the opening hours (Kazakh)"), max_length=300, blank=True
    )
    hours_note_ru = models.CharField(
        _("about the opening hours (Russian)"), max_length=300, blank=True
    )
    hours_note_en = models.CharField(
        _("about the opening hours (English)"), max_length=300, blank=True
    )
    waiting_area_kk = models.CharField(
        _("waiting area address (Kazakh)"), max_length=300, blank=True
    )
    waiting_area_ru = models.CharField(
        _("waiting area address (Russian)"), max_length=300, blank=True
    )
    waiting_area_en = models.CharField(
        _("waiting area address (English)"), max_length=300, blank=True
    )
    waiting_area_latitude = models.DecimalField(
        _("waiting area latitude"),
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    waiting_area_longitude = models.DecimalField(
        _("waiting area longitude"),
        max_digits=8,
        decimal_places=5,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    route_kk = models.TextField(_("how to get to the waiting area (Kazakh)"), blank=True)
    route_ru = models.TextField(_("how to get to the waiting area (Russian)"), blank=True)
    route_en = models.TextField(_("how to get to the waiting area (English)"), blank=True)
    contacts_kk = models.TextField(_("contacts (Kazakh)"), blank=True)
    contacts_ru = models.TextField(_("contacts (Russian)"), blank=True)
    contacts_en = models.TextField(_("contacts (English)"), blank=True)

    objects = CheckpointQuerySet.as_manager()

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
            ),
            # Opening hours lie within one local day (C1): closing after opening, or at 00:00
            # meaning midnight. An interval crossing midnight is not supported.
            models.CheckConstraint(
                condition=(
                    models.Q(opens_at__isnull=True)
                    | models.Q(closes_at__gt=models.F("opens_at"))
                    | models.Q(closes_at=dt.time(0), opens_at__gt=dt.time(0))
                ),
                name="checkpoint_hours_within_one_day",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        waiting_area_latitude__isnull=True, waiting_area_longitude__isnull=True
                    )
                    | models.Q(
                        waiting_area_latitude__isnull=False, waiting_area_longitude__isnull=False
                    )
                ),
                name="checkpoint_waiting_area_both_coordinates_or_neither",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def name(self) -> str:
        return localized(self, "name")

    @property
    def counterpart_en(self) -> str:
        """The neighbour's name as the reference data gives it (Latin script) stands for English."""
        return self.counterpart

    @property
    def counterpart_name(self) -> str:
        """The neighbour's checkpoint in the visitor's language (W4)."""
        return localized(self, "counterpart")

    @property
    def hours_note(self) -> str:
        return localized(self, "hours_note")

    @property
    def waiting_area(self) -> str:
        return localized(self, "waiting_area")

    @property
    def route(self) -> str:
        return localized(self, "route")

    @property
    def contacts(self) -> str:
        return localized(self, "contacts")

    @property
    def waiting_area_map_url(self) -> str:
        """A plain link that opens the waiting area's coordinates in a map (W4), or ""."""
        if self.waiting_area_latitude is None or self.waiting_area_longitude is None:
            return ""
        lat, lon = self.waiting_area_latitude, self.waiting_area_longitude
        return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=15/{lat}/{lon}"

    @property
    def is_open_around_the_clock(self) -> bool:
        return self.opens_at is None

    @property
    def is_bookable(self) -> bool:
        """The row's side of `Checkpoint.objects.bookable()`."""
        return self.is_active and self.serves_trucks

    def clean(self) -> None:
        """Opening hours (C1): both or neither, on the hour, within one local day. Closing at
        00:00 means midnight; an interval crossing midnight (22:00–06:00) is refused."""
        super().clean()
        if (self.waiting_area_latitude is None) != (self.waiting_area_longitude is None):
            raise ValidationError(_("Give both coordinates of the waiting area, or neither."))
        if (self.opens_at is None) != (self.closes_at is None):
            missing = "opens_at" if self.opens_at is None else "closes_at"
            raise ValidationError(
                {
                    missing: _(
                        "Give both the opening and the closing time, or neither (open 24 hours)."
                    )
                }
            )
        if self.opens_at is None:
            return
        errors = {}
        for name in ("opens_at", "closes_at"):
            value = getattr(self, name)
            if (value.minute, value.second, value.microsecond) != (0, 0, 0):
                errors[name] = _("Slots are whole hours: give a time on the hour, like 08:00.")
        if errors:
            raise ValidationError(errors)
        if self.opens_at == self.closes_at:
            raise ValidationError(
                {
                    "closes_at": _(
                        "Opening and closing at the same time: leave both empty for 24 hours."
                    )
                }
            )
        if self.closes_at != dt.time(0) and self.closes_at < self.opens_at:
            raise ValidationError(
                {
                    "closes_at": _(
                        "Opening hours crossing midnight are not supported: the checkpoint "
                        "closes after it opens on the same day (00:00 means midnight)."
                    )
                }
            )


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


# --- Capacity, quotas, closures and slot counters (C1–C3, C6) ---------------------------------


class SlotKind(models.TextChoices):
    """Where a booking takes its place (C1, C2): an hour's regular capacity, or a day's quota.
    The values are the booking services of B1."""

    REGULAR = "regular", _("Regular queue")
    ACCELERATED = "accelerated", _("Accelerated passage")
    OUT_OF_TURN = "out_of_turn", _("Out-of-turn passage")


PRIORITY_KINDS = (SlotKind.OUT_OF_TURN, SlotKind.ACCELERATED)

HOUR_FIELD_VALIDATORS = [MinValueValidator(0), MaxValueValidator(23)]


class HourOverride(models.Model):
    """An operator's regular capacity for one hour of one day (C1). It replaces the computed
    capacity of that hour only; the other hours keep theirs (nothing is redistributed). An
    override with places on an hour outside the opening hours opens that hour on that day; an
    override of 0 inside them leaves the hour open for priority bookings but without regular
    places."""

    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="hour_overrides",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    date = models.DateField(_("date"))
    hour = models.PositiveSmallIntegerField(
        _("hour"), validators=HOUR_FIELD_VALIDATORS, help_text=_("Local time, 0–23.")
    )
    capacity = models.PositiveIntegerField(_("regular capacity of the hour"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("hourly capacity override")
        verbose_name_plural = _("hourly capacity overrides")
        ordering = ["-date", "checkpoint", "direction", "hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "date", "hour"], name="hour_override_once"
            ),
            models.CheckConstraint(
                condition=models.Q(hour__gte=0, hour__lte=23), name="hour_override_hour_0_23"
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.date} {self.hour:02d}:00"
        return f"{self.checkpoint_id} {self.direction} {when} = {self.capacity}"


class QuotaOverride(models.Model):
    """An operator's priority quota for one day (C2), instead of 5 % / 1 % of daily capacity.
    It changes the quota only; the regular hours keep their capacity."""

    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="quota_overrides",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    date = models.DateField(_("date"))
    service = models.CharField(
        _("service"),
        max_length=12,
        choices=[(kind.value, kind.label) for kind in PRIORITY_KINDS],
    )
    capacity = models.PositiveIntegerField(_("quota of the day"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("priority quota override")
        verbose_name_plural = _("priority quota overrides")
        ordering = ["-date", "checkpoint", "direction", "service"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "date", "service"], name="quota_override_once"
            ),
            models.CheckConstraint(
                condition=models.Q(service__in=[kind.value for kind in PRIORITY_KINDS]),
                name="quota_override_priority_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.direction} {self.date} {self.service} = {self.capacity}"


class Closure(models.Model):
    """The checkpoint (one direction, or both) is closed for a period (C3): holidays, works,
    incidents. No slot hour that overlaps it takes a booking, regular or priority."""

    checkpoint = models.ForeignKey(
        Checkpoint, verbose_name=_("checkpoint"), on_delete=models.PROTECT, related_name="closures"
    )
    direction = models.CharField(
        _("direction"),
        max_length=5,
        choices=Direction.choices,
        blank=True,
        help_text=_("Empty: both directions."),
    )
    starts_at = models.DateTimeField(_("closed from"))
    ends_at = models.DateTimeField(_("closed until"))
    reason = models.TextField(_("reason"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("entered at"), auto_now_add=True)

    class Meta:
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        ordering = ["-starts_at"]
        indexes = [
            models.Index(
                fields=["checkpoint", "starts_at", "ends_at"], name="closure_checkpoint_period"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="closure_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.direction or '*'} {self.starts_at} – {self.ends_at}"

    def clean(self) -> None:
        super().clean()
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("A closure ends after it starts.")})

    @property
    def directions(self) -> tuple[str, ...]:
        return (self.direction,) if self.direction else tuple(Direction.values)


class SlotCounter(models.Model):
    """Places taken of one slot's regular capacity or one day's priority quota (C1, C2, C6).

    One row per (checkpoint, direction, date, hour, kind); a day quota row has hour = -1
    (`DAY`), because NULL would not be unique on either database. Rows are made on demand.

    `planned` is the capacity the rules give now (daily capacity, opening hours, overrides,
    closures: `checkpoints.capacity`). `capacity` is what the conditional UPDATE enforces and
    is always max(planned, taken): when an operator lowers capacity below what is already
    taken, the row keeps capacity = taken (no booking is lost, none is added) and every release
    brings it down again until it meets `planned`.
    """

    DAY = -1

    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="slot_counters",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    date = models.DateField(_("date"))
    hour = models.SmallIntegerField(_("hour"), help_text=_("Local time, 0–23; −1 for a day quota."))
    kind = models.CharField(_("kind"), max_length=12, choices=SlotKind.choices)
    planned = models.IntegerField(_("capacity by the rules"))
    capacity = models.IntegerField(_("capacity"))
    taken = models.IntegerField(_("taken"), default=0)

    class Meta:
        verbose_name = _("slot counter")
        verbose_name_plural = _("slot counters")
        ordering = ["date", "checkpoint", "direction", "kind", "hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "date", "hour", "kind"],
                name="slot_counter_once",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind=SlotKind.REGULAR, hour__gte=0, hour__lte=23)
                    | (
                        models.Q(kind__in=[kind.value for kind in PRIORITY_KINDS])
                        & models.Q(hour=-1)
                    )
                ),
                name="slot_counter_hour_matches_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(taken__gte=0), name="slot_counter_taken_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(taken__lte=models.F("capacity")),
                name="slot_counter_taken_within_capacity",
            ),
            models.CheckConstraint(
                condition=models.Q(planned__gte=0, capacity__gte=models.F("planned")),
                name="slot_counter_capacity_covers_planned",
            ),
        ]

    def __str__(self) -> str:
        when = "day" if self.hour == self.DAY else f"{self.hour:02d}:00"
        return f"{self.checkpoint_id} {self.direction} {self.date} {when} {self.kind}"

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.taken)


# --- Plate cameras (API.md "Checkpoint devices") ----------------------------------------------


class DeviceKey(models.Model):
    """The key of a plate camera: it reports arrivals and crossings at one checkpoint only.

    Operators make keys in the admin. Only the key's SHA-256 is stored; the key itself is shown
    once, when it is made. A key is revoked, never deleted, so the bookings it marked keep
    saying which device it was (Q3)."""

    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="device_keys",
    )
    name = models.CharField(
        _("name"),
        max_length=100,
        help_text=_("Which camera it is, e.g. “Waiting area entrance” or “Exit gate, lane 2”."),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(_("starts with"), max_length=12, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("made by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created_at = models.DateTimeField(_("made at"), editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("device key")
        verbose_name_plural = _("device keys")
        ordering = ["checkpoint", "name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


# --- Devices of a checkpoint that work through an outage (O1-O4, docs/offline.md) ------------


class DeviceReport(models.Model):
    """A device that keeps a checkpoint's manifest and sends its events (O1-O3): a staff screen
    (a browser, by the id it made for itself) or a device key. `reported_at` is when it last
    delivered everything it had recorded (a sync that left nothing on the device); while the
    newest report of a checkpoint's devices is older than a check-in window's end, the no-show
    sweep leaves that window alone (O4). Operators retire a device that is out of service."""

    checkpoint = models.ForeignKey(
        Checkpoint,
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="device_reports",
    )
    device = models.CharField(_("device"), max_length=80)
    name = models.CharField(_("name"), max_length=200, blank=True)
    device_key = models.ForeignKey(
        DeviceKey, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    first_seen_at = models.DateTimeField(_("first seen at"))
    last_seen_at = models.DateTimeField(_("last seen at"))
    reported_at = models.DateTimeField(_("last reported at"), null=True, blank=True)
    manifest_sequence = models.PositiveBigIntegerField(_("last manifest"), default=0)
    manifest_at = models.DateTimeField(_("last manifest at"), null=True, blank=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)

    class Meta:
        verbose_name = _("checkpoint device")
        verbose_name_plural = _("checkpoint devices")
        ordering = ["checkpoint", "-last_seen_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "device"], name="device_report_once")
        ]

    def __str__(self) -> str:
        return f"{self.name or self.device} @ {self.checkpoint_id}"

    @property
    def report_moment(self):
        """Since when everything it recorded has reached the portal: its last report, or its
        first contact while it never reported."""
        return self.reported_at or self.first_seen_at
