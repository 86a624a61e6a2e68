"""The public pages of the checkpoints (W4): what a carrier needs to plan a trip before signing
in — the home page's list with each one's soonest free hour, a checkpoint's page and calendar."""

import dataclasses
import datetime as dt

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checkpoints import capacity
from checkpoints.models import Direction
from checkpoints.public_reads import public_checkpoint, public_day_grid
from checkpoints.selectors import closures_ahead, countries_with_checkpoints, soonest_free_hours
from core import clock
from release.models import ReleaseWindow
from release.selectors import next_request_windows


@dataclasses.dataclass(frozen=True)
class SoonestShown:
    """One direction of a checkpoint on the home page: its soonest free hour (None: none in
    the booking window), which day that is as a word when it is today or tomorrow, and the
    draw that takes requests now or next (F1), if any."""

    direction: str
    label: str
    start: dt.datetime | None
    day_word: str
    draw: ReleaseWindow | None
    draw_open: bool


def home(request: HttpRequest) -> HttpResponse:
    """The checkpoints by country, each with the soonest hour a carrier can book in each
    direction (W4), linked to its calendar. A fixed number of queries whatever the number of
    checkpoints: the countries and their checkpoints, then `soonest_free_hours` and the draws'
    windows for all of them at once."""
    countries = list(countries_with_checkpoints())
    checkpoints = [checkpoint for country in countries for checkpoint in country.checkpoints.all()]
    now = clock.now()
    soonest = soonest_free_hours(checkpoints, now=now)
    draws = next_request_windows(
        checkpoint_ids=[checkpoint.pk for checkpoint in checkpoints], at=now
    )
    today = clock.local_date(now)
    words = {today: "today", today + dt.timedelta(days=1): "tomorrow"}

    def shown(checkpoint) -> list[SoonestShown]:
        rows = []
        for direction, label in Direction.choices:
            start = soonest[(checkpoint.pk, direction)].start
            draw = draws.get((checkpoint.pk, direction))
            rows.append(
                SoonestShown(
                    direction=direction,
                    label=label,
                    start=start,
                    day_word=words.get(clock.local_date(start), "") if start else "",
                    draw=draw,
                    draw_open=draw is not None and draw.opens_at <= now,
                )
            )
        return rows

    sections = [
        (country, [(checkpoint, shown(checkpoint)) for checkpoint in country.checkpoints.all()])
        for country in countries
    ]
    return render(
        request,
        "checkpoints/home.html",
        {"sections": sections, "window_days": settings.BOOKING_WINDOW_DAYS},
    )


@require_GET
def checkpoint_page(request: HttpRequest, code: str) -> HttpResponse:
    """Opening hours, the waiting area and how to reach it, the neighbour's checkpoint, contacts,
    and the current and coming closures (W4, C3). Blocks an operator left empty are omitted."""
    checkpoint = public_checkpoint(code)
    if checkpoint is None:
        raise Http404
    return render(
        request,
        "checkpoints/checkpoint.html",
        {"checkpoint": checkpoint, "closures": list(closures_ahead(checkpoint))},
    )


@require_GET
def checkpoint_calendar(request: HttpRequest, code: str) -> HttpResponse:
    """The free places of every hour of the booking window (C4) for one direction, one day per
    row (W4): closed hours marked (C3), and the days whose places the draw gives out (F1) with
    its request window. Each day is the public slots API's day grid, from its cache."""
    checkpoint = public_checkpoint(code)
    if checkpoint is None:
        raise Http404
    direction = request.GET.get("direction") or Direction.EXIT
    if direction not in Direction.values:
        raise Http404
    now = clock.now()
    first, last = capacity.booking_window(now)
    dates = capacity.local_dates_of_period(first, last + capacity.SLOT_LENGTH)
    windows = {
        window.day: window
        for window in ReleaseWindow.objects.filter(
            checkpoint=checkpoint, direction=direction, day__range=(dates[0], dates[-1])
        ).exclude(status=ReleaseWindow.Status.CANCELLED)
    }
    days = [
        {
            "date": date,
            "slots": public_day_grid(
                checkpoint=checkpoint, direction=direction, date=date, service=capacity.REGULAR
            ).value.slots,
            "draw": windows.get(date),
        }
        for date in dates
    ]
    return render(
        request,
        "checkpoints/calendar.html",
        {
            "checkpoint": checkpoint,
            "direction": direction,
            "direction_label": Direction(direction).label,
            "directions": Direction.choices,
            "days": days,
        },
    )
