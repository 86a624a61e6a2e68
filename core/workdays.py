"""Working days in Kazakhstan (R4): weekends and public holidays (the `holidays` package, with
its days off moved by law) plus the exceptions an operator enters (CalendarDay)."""

import datetime as dt
from functools import lru_cache

import holidays

from core.models import CalendarDay


@lru_cache(maxsize=32)
def _public_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("KZ", years=year))


def _exceptions(start: dt.date, end: dt.date) -> dict[dt.date, str]:
    return dict(CalendarDay.objects.filter(date__range=(start, end)).values_list("date", "kind"))


def _is_working(day: dt.date, exceptions: dict[dt.date, str]) -> bool:
    kind = exceptions.get(day)
    if kind == CalendarDay.Kind.WORKING_DAY:
        return True
    if kind == CalendarDay.Kind.DAY_OFF:
        return False
    return day.weekday() < 5 and day not in _public_holidays(day.year)


def is_working_day(day: dt.date) -> bool:
    return _is_working(day, _exceptions(day, day))


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date `days` working days after `start` (start itself not counted), e.g. a deadline of
    three working days after a payment (P4)."""
    if days < 0:
        raise ValueError("days must not be negative")
    # Long holidays plus weekends never stretch a working day beyond two weeks; fetch operator
    # exceptions for a generous span in one query.
    span = dt.timedelta(days=days * 3 + 21)
    exceptions = _exceptions(start, start + span)
    day, counted = start, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if day > start + span:
            exceptions.update(_exceptions(day, day + span))
            span += span
        if _is_working(day, exceptions):
            counted += 1
    return day
