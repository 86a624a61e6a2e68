"""Times and helpers shared by the slot tests."""

import datetime as dt

from core.clock import ALMATY

# A Friday morning in Almaty; the slot tests book from here (`frozen_now`).
NOW = dt.datetime(2026, 3, 20, 10, 0, tzinfo=ALMATY)
TOMORROW = dt.date(2026, 3, 21)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """An aware local time in Almaty."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ALMATY)
