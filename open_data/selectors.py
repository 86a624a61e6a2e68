"""Reads of the open data (W5): pages of daily figures, the load by weekday and hour, stamps.

A page covers at most PAGE_DAYS days from its first date; a longer range is read a page at a
time by following `next` (the same range, from the day after the page). The stamp of a page (its
ETag) names the query, the rows it holds and the newest time one of them was computed: a rebuild
that changes a figure changes it.
"""

import dataclasses
import datetime as dt
import hashlib
from collections import defaultdict

from django.db.models import Count, Max, QuerySet

from checkpoints.models import Checkpoint
from core import clock
from open_data.models import DailyFigures, HourlyLoad

PAGE_DAYS = 366
DEFAULT_DAYS = 90

# The fields of a published row, in the order of the CSV's columns.
PUBLISHED_FIELDS = (
    "date",
    "checkpoint",
    "direction",
    "places_offered",
    "requested",
    "booked",
    "arrived",
    "crossed",
    "no_shows",
    "cancellations",
    "waits_counted",
    "wait_median_minutes",
    "wait_p90_minutes",
)


def yesterday() -> dt.date:
    return clock.local_today() - dt.timedelta(days=1)


def minutes(seconds: int | None) -> float | None:
    """A wait as published: minutes with one decimal."""
    return None if seconds is None else round(seconds / 60, 1)


@dataclasses.dataclass(frozen=True)
class Query:
    """What a reader asked for: an optional checkpoint (code) and direction, and a date range.
    Without dates: the DEFAULT_DAYS days up to yesterday."""

    checkpoint: Checkpoint | None
    direction: str | None
    first: dt.date
    last: dt.date

    @classmethod
    def of(
        cls,
        *,
        checkpoint: Checkpoint | None = None,
        direction: str | None = None,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> "Query":
        last = last or (first + dt.timedelta(days=DEFAULT_DAYS - 1) if first else yesterday())
        first = first or last - dt.timedelta(days=DEFAULT_DAYS - 1)
        return cls(checkpoint=checkpoint, direction=direction or None, first=first, last=last)

    def params(self, **changes) -> dict[str, str]:
        """The query string of this query (with `changes`), as the URLs take it."""
        values = {
            "checkpoint": self.checkpoint.code if self.checkpoint else "",
            "direction": self.direction or "",
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
        }
        values.update({key: value.isoformat() for key, value in changes.items()})
        return {key: value for key, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a query: its days are `first`…`last` (at most PAGE_DAYS)."""

    query: Query
    first: dt.date
    last: dt.date

    @classmethod
    def of(cls, query: Query) -> "Page":
        last = min(query.last, query.first + dt.timedelta(days=PAGE_DAYS - 1))
        return cls(query=query, first=query.first, last=last)

    def rows(self) -> QuerySet[DailyFigures]:
        rows = DailyFigures.objects.filter(date__range=(self.first, self.last))
        if self.query.checkpoint is not None:
            rows = rows.filter(checkpoint=self.query.checkpoint)
        if self.query.direction:
            rows = rows.filter(direction=self.query.direction)
        return rows.select_related("checkpoint").order_by("date", "checkpoint__code", "direction")

    @property
    def next_params(self) -> dict[str, str] | None:
        """The next page of the same range, if the range goes on."""
        if self.last >= self.query.last:
            return None
        return self.query.params(**{"from": self.last + dt.timedelta(days=1)})

    @property
    def previous_params(self) -> dict[str, str] | None:
        """The PAGE_DAYS days before this page, if any figures are older."""
        if not DailyFigures.objects.filter(date__lt=self.first).exists():
            return None
        return self.query.params(
            **{
                "from": self.first - dt.timedelta(days=PAGE_DAYS),
                "to": self.first - dt.timedelta(days=1),
            }
        )

    def stamp(self) -> str:
        seen = self.rows().order_by().aggregate(count=Count("pk"), newest=Max("computed_at"))
        parts = [
            repr(sorted(self.query.params().items())),
            self.first.isoformat(),
            self.last.isoformat(),
            str(seen["count"]),
            seen["newest"].isoformat() if seen["newest"] else "",
            str(self.previous_params is not None),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def published_row(row: DailyFigures) -> dict:
    """A row as the CSV and the JSON publish it."""
    return {
        "date": row.date,
        "checkpoint": row.checkpoint.code,
        "direction": row.direction,
        "places_offered": row.places_offered,
        "requested": row.requested,
        "booked": row.booked,
        "arrived": row.arrived,
        "crossed": row.crossed,
        "no_shows": row.no_shows,
        "cancellations": row.cancellations,
        "waits_counted": row.waits_counted,
        "wait_median_minutes": minutes(row.wait_median_seconds),
        "wait_p90_minutes": minutes(row.wait_p90_seconds),
    }


@dataclasses.dataclass(frozen=True)
class LoadCell:
    weekday: int  # 0 = Monday
    hour: int
    offered: int
    booked: int

    @property
    def percent(self) -> int | None:
        """Share of the hour's regular places booked; None where none were offered."""
        if not self.offered:
            return None
        return round(100 * self.booked / self.offered)


def load_by_weekday_and_hour(
    *, checkpoint: Checkpoint, direction: str, first: dt.date, last: dt.date
) -> list[list[LoadCell]]:
    """7 rows (Monday first) of 24 cells: regular places offered and booked over the range,
    summed per weekday and hour (W5 heatmap)."""
    sums: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    rows = HourlyLoad.objects.filter(
        checkpoint=checkpoint, direction=direction, date__range=(first, last)
    ).values_list("date", "hour", "offered", "booked")
    for date, hour, offered, booked in rows.order_by():
        cell = sums[(date.weekday(), hour)]
        cell[0] += offered
        cell[1] += booked
    return [
        [LoadCell(weekday, hour, *sums.get((weekday, hour), (0, 0))) for hour in range(24)]
        for weekday in range(7)
    ]


def public_checkpoints() -> list[Checkpoint]:
    """Checkpoints a reader can choose: those that take bookings, by name."""
    return sorted(Checkpoint.objects.bookable(), key=lambda checkpoint: checkpoint.name)


def checkpoint_by_code(code: str) -> Checkpoint | None:
    code = (code or "").strip().upper()
    if not 0 < len(code) <= 40 or not code.replace("-", "").isalnum() or not code.isascii():
        return None
    return Checkpoint.objects.filter(code=code).first()
