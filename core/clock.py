"""Time: aware datetimes only; Almaty time (UTC+5) for dates people see (R4)."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.utils import timezone

ALMATY = ZoneInfo("Asia/Almaty")


def now() -> dt.datetime:
    return timezone.now()


def local_today() -> dt.date:
    return timezone.now().astimezone(ALMATY).date()


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(ALMATY).date()


def start_of_local_day(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=ALMATY)


def parse_as_of(value: str) -> dt.datetime:
    """`--as-of`: an ISO 8601 datetime with offset, or a date meaning its start in Almaty time."""
    try:
        if len(value) == 10:
            return start_of_local_day(dt.date.fromisoformat(value))
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date (YYYY-MM-DD) or datetime with offset."
        ) from exc
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; write it like 2026-03-20T09:00:00+05:00.")
    return moment
