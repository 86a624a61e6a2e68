import datetime as dt

import pytest

from core.models import CalendarDay
from core.workdays import add_working_days, is_working_day

pytestmark = pytest.mark.django_db


def test_r4_three_working_days_from_friday_before_nauryz_2026():
    # 2026-03-20 is a Friday; 21–23 March is Nauryz (Sat–Mon) with days off moved to 24 and 25.
    assert add_working_days(dt.date(2026, 3, 20), 1) == dt.date(2026, 3, 26)
    assert add_working_days(dt.date(2026, 3, 20), 3) == dt.date(2026, 3, 30)


@pytest.mark.parametrize(
    "day", ["2026-03-21", "2026-03-22", "2026-03-23", "2026-03-24", "2026-03-25"]
)
def test_r4_nauryz_2026_days_are_days_off(day):
    assert not is_working_day(dt.date.fromisoformat(day))


def test_r4_new_year_2026():
    # 31 Dec 2025 (Wed) is a working day; 1–2 Jan are holidays, then the weekend; 7 Jan is
    # Orthodox Christmas.
    assert is_working_day(dt.date(2025, 12, 31))
    assert add_working_days(dt.date(2025, 12, 31), 1) == dt.date(2026, 1, 5)
    assert add_working_days(dt.date(2025, 12, 31), 3) == dt.date(2026, 1, 8)


def test_r4_operator_extra_day_off_and_working_saturday():
    CalendarDay.objects.create(date=dt.date(2026, 3, 26), kind=CalendarDay.Kind.DAY_OFF)
    CalendarDay.objects.create(date=dt.date(2026, 3, 28), kind=CalendarDay.Kind.WORKING_DAY)
    assert not is_working_day(dt.date(2026, 3, 26))
    assert is_working_day(dt.date(2026, 3, 28))
    # 27 Fri, 28 Sat (working), 30 Mon.
    assert add_working_days(dt.date(2026, 3, 20), 3) == dt.date(2026, 3, 30)
    assert add_working_days(dt.date(2026, 3, 20), 2) == dt.date(2026, 3, 28)


def test_r4_zero_days_is_the_same_day_and_negative_is_refused():
    assert add_working_days(dt.date(2026, 3, 21), 0) == dt.date(2026, 3, 21)
    with pytest.raises(ValueError):
        add_working_days(dt.date(2026, 3, 21), -1)


def test_r4_long_spans_cross_many_holidays():
    # 250 working days from 2025-01-01 stays correct past the pre-fetched window.
    day, counted = dt.date(2025, 1, 1), 0
    while counted < 250:
        day += dt.timedelta(days=1)
        counted += is_working_day(day)
    assert add_working_days(dt.date(2025, 1, 1), 250) == day
