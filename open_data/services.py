"""Writes of the open data (W5): the nightly rebuild of a day's figures.

Rebuilding is idempotent: a day's rows are computed afresh from the bookings and the capacity
rules and compared with the stored ones; only rows whose figures differ are written (their
`computed_at` moves, and with it the public reads' ETag), rows of checkpoints that no longer have
figures that day are removed, and a second run with nothing changed writes nothing. The unique
constraints keep one row per checkpoint, direction, date (and hour): two rebuilds of one day at
once cannot both insert, the second fails and is simply run again.
"""

import dataclasses
import datetime as dt

from django.db import transaction
from django.db.models import Q

from bookings.models import Booking
from checkpoints import capacity
from checkpoints.models import Checkpoint, Direction, SlotCounter, SlotKind
from core import clock
from open_data import figures
from open_data.models import DailyFigures, HourlyLoad

FIGURE_FIELDS = (
    "places_offered",
    "requested",
    "booked",
    "arrived",
    "crossed",
    "no_shows",
    "cancellations",
    "waits_counted",
    "wait_median_seconds",
    "wait_p90_seconds",
)


@dataclasses.dataclass
class RebuildResult:
    days: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted

    def __iadd__(self, other: "RebuildResult") -> "RebuildResult":
        for field in ("days", "created", "updated", "deleted", "unchanged"):
            setattr(self, field, getattr(self, field) + getattr(other, field))
        return self


def _local_hour(moment: dt.datetime) -> int:
    return capacity.local_slot(moment)[1]


def _checkpoints_of(day: dt.date, booked_ids: set[int]) -> list[Checkpoint]:
    """Checkpoints with figures on `day`: those taking bookings (from their electronic queue's
    first day, when known) and any other that had bookings that day."""
    taking = Q(is_active=True, serves_trucks=True) & (
        Q(queue_since__isnull=True) | Q(queue_since__lte=day)
    )
    return list(Checkpoint.objects.filter(taking | Q(pk__in=booked_ids)).order_by("pk"))


def _computed(day: dt.date) -> tuple[dict[tuple, dict], dict[tuple, dict]]:
    """The day's figures {(checkpoint id, direction): fields} and hourly load
    {(checkpoint id, direction, hour): fields}, from the database as it is now."""
    start = clock.start_of_local_day(day)
    end = clock.start_of_local_day(day + dt.timedelta(days=1))
    rows = Booking.objects.filter(slot_start__gte=start, slot_start__lt=end).values_list(
        "checkpoint_id", "direction", "service", "slot_start", "status", "arrived_at", "called_at"
    )
    tallies = figures.tally_bookings(rows.order_by(), local_hour=_local_hour)
    requested = figures.requested_on(day)
    counters: dict[tuple[int, str, str, int], int] = {
        (checkpoint_id, direction, kind, hour): counter_capacity
        for checkpoint_id, direction, kind, hour, counter_capacity in SlotCounter.objects.filter(
            date=day
        )
        .values_list("checkpoint_id", "direction", "kind", "hour", "capacity")
        .order_by()
    }
    daily: dict[tuple, dict] = {}
    hourly: dict[tuple, dict] = {}
    booked_ids = {checkpoint_id for checkpoint_id, _direction in tallies}
    checkpoints = _checkpoints_of(day, booked_ids)
    rules = capacity.rule_book(
        checkpoints=checkpoints, directions=Direction.values, first=day, last=day
    )
    for checkpoint in checkpoints:
        for direction in Direction.values:
            plan = rules.plan(checkpoint.pk, direction, day)
            tally = tallies.get((checkpoint.pk, direction), figures.Tally())
            hours = set(plan.regular) | {
                hour
                for (cp, dn, kind, hour) in counters
                if cp == checkpoint.pk and dn == direction and kind == SlotKind.REGULAR
            }
            offered = 0
            for hour in sorted(hours | set(tally.regular_by_hour)):
                places = max(
                    plan.planned(SlotKind.REGULAR, hour),
                    counters.get((checkpoint.pk, direction, SlotKind.REGULAR, hour), 0),
                )
                offered += places
                booked = tally.regular_by_hour.get(hour, 0)
                if places or booked:
                    hourly[(checkpoint.pk, direction, hour)] = {"offered": places, "booked": booked}
            for kind, quota in plan.quotas.items():
                offered += max(
                    quota, counters.get((checkpoint.pk, direction, kind, SlotCounter.DAY), 0)
                )
            daily[(checkpoint.pk, direction)] = {
                "places_offered": offered,
                "requested": requested.get((checkpoint.pk, direction)),
                "booked": tally.booked,
                "arrived": tally.arrived,
                "crossed": tally.crossed,
                "no_shows": tally.no_shows,
                "cancellations": tally.cancellations,
                "waits_counted": len(tally.waits),
                "wait_median_seconds": figures.median_seconds(tally.waits),
                "wait_p90_seconds": figures.p90_seconds(tally.waits),
            }
    return daily, hourly


def daily_figures_rebuild(*, day: dt.date) -> RebuildResult:
    """Compute the figures of local date `day` (W5) and store them, writing only what changed."""
    daily, hourly = _computed(day)
    now = clock.now()
    result = RebuildResult(days=1)
    with transaction.atomic():
        # The hours first: a day whose hours changed while its totals did not (an override moved
        # places from one hour to another) still gets a new computed_at, and so a new ETag.
        touched: set[tuple[int, str]] = set()
        stored_hours = {
            (row.checkpoint_id, row.direction, row.hour): row
            for row in HourlyLoad.objects.filter(date=day)
        }
        for key, values in hourly.items():
            row = stored_hours.pop(key, None)
            if row is None:
                HourlyLoad.objects.create(
                    checkpoint_id=key[0], direction=key[1], hour=key[2], date=day, **values
                )
                touched.add(key[:2])
            elif (row.offered, row.booked) != (values["offered"], values["booked"]):
                row.offered, row.booked = values["offered"], values["booked"]
                row.save(update_fields=["offered", "booked"])
                touched.add(key[:2])
        if stored_hours:
            touched.update(key[:2] for key in stored_hours)
            HourlyLoad.objects.filter(pk__in=[row.pk for row in stored_hours.values()]).delete()

        stored = {
            (row.checkpoint_id, row.direction): row for row in DailyFigures.objects.filter(date=day)
        }
        for key, values in daily.items():
            row = stored.pop(key, None)
            if row is None:
                DailyFigures.objects.create(
                    checkpoint_id=key[0], direction=key[1], date=day, computed_at=now, **values
                )
                result.created += 1
            elif key in touched or any(
                getattr(row, field) != value for field, value in values.items()
            ):
                for field, value in values.items():
                    setattr(row, field, value)
                # Forward even when the clock did not move (the ETag must change).
                row.computed_at = max(now, row.computed_at + dt.timedelta(microseconds=1))
                row.save(update_fields=[*FIGURE_FIELDS, "computed_at"])
                result.updated += 1
            else:
                result.unchanged += 1
        if stored:
            result.deleted += len(stored)
            DailyFigures.objects.filter(pk__in=[row.pk for row in stored.values()]).delete()
    return result


def daily_figures_rebuild_range(*, first: dt.date, last: dt.date) -> RebuildResult:
    """Rebuild every day from `first` to `last` inclusive, one transaction a day."""
    result = RebuildResult()
    day = first
    while day <= last:
        result += daily_figures_rebuild(day=day)
        day += dt.timedelta(days=1)
    return result
