"""Daily figures of the queue, published as statistics and open data (W5).

One row per checkpoint, direction and local date, rebuilt by the nightly job from the bookings and
the capacity rules (open_data.services); the public page, the CSV and the JSON read only these
rows, never the bookings, so a public read costs the same whatever the traffic of the day was.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from checkpoints.models import Direction


class DailyFigures(models.Model):
    """What happened at one checkpoint, in one direction, on one local (Almaty) date (W5).

    A booking belongs to the date of its slot. `requested` is NULL where no draw ran (not
    applicable: places were booked first come, first served); `wait_*` are NULL when no vehicle
    was called forward after arriving that day.
    """

    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    date = models.DateField(_("date"))
    places_offered = models.PositiveIntegerField(_("places offered"))
    requested = models.PositiveIntegerField(_("requested in the draw"), null=True, blank=True)
    booked = models.PositiveIntegerField(_("booked"))
    arrived = models.PositiveIntegerField(_("arrived"))
    crossed = models.PositiveIntegerField(_("crossed"))
    no_shows = models.PositiveIntegerField(_("no-shows"))
    cancellations = models.PositiveIntegerField(_("cancellations"))
    waits_counted = models.PositiveIntegerField(_("waits counted"))
    wait_median_seconds = models.PositiveIntegerField(
        _("median wait from arrival to call, seconds"), null=True, blank=True
    )
    wait_p90_seconds = models.PositiveIntegerField(
        _("90th percentile of the wait from arrival to call, seconds"), null=True, blank=True
    )
    # Moved only when a figure of the row changes: the public reads' ETag is made from it.
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("daily figures")
        verbose_name_plural = _("daily figures")
        ordering = ["date", "checkpoint", "direction"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "date"], name="daily_figures_once"
            )
        ]
        indexes = [models.Index(fields=["date"], name="daily_figures_date")]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.direction} {self.date}"


class HourlyLoad(models.Model):
    """Regular places offered and booked in one hour of one day (W5): the load heatmap.

    Only hours with places or bookings are kept. Priority quotas are per day, not per hour, so
    they are not here; they are in DailyFigures.places_offered.
    """

    checkpoint = models.ForeignKey(
        "checkpoints.Checkpoint",
        verbose_name=_("checkpoint"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    direction = models.CharField(_("direction"), max_length=5, choices=Direction.choices)
    date = models.DateField(_("date"))
    hour = models.PositiveSmallIntegerField(_("hour"))
    offered = models.PositiveIntegerField(_("places offered"))
    booked = models.PositiveIntegerField(_("booked"))

    class Meta:
        verbose_name = _("hourly load")
        verbose_name_plural = _("hourly load")
        ordering = ["date", "checkpoint", "direction", "hour"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint", "direction", "date", "hour"], name="hourly_load_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.checkpoint_id} {self.direction} {self.date} {self.hour:02d}:00"
