"""The public pages of a checkpoint (W4): what a carrier needs to plan a trip before signing in."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checkpoints import capacity
from checkpoints.models import Direction
from checkpoints.public_reads import public_checkpoint, public_day_grid
from checkpoints.selectors import closures_ahead
from core import clock
from release.models import ReleaseWindow


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
