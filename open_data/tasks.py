"""Thin Celery tasks: each calls one service."""

import datetime as dt

from celery import shared_task

from core import clock
from open_data.services import daily_figures_rebuild_range

# Each night the days before are computed again as well: a booking's figures settle only when
# the no-show sweep (D6) and the not-crossed closing (Q8, a day after check-in closed) are done.
RECOMPUTE_DAYS = 3


@shared_task
def aggregate_statistics() -> int:
    """The nightly figures (W5): yesterday and the RECOMPUTE_DAYS - 1 days before it. Returns
    the number of rows written (0 when nothing changed)."""
    yesterday = clock.local_today() - dt.timedelta(days=1)
    first = yesterday - dt.timedelta(days=RECOMPUTE_DAYS - 1)
    return daily_figures_rebuild_range(first=first, last=yesterday).changed
