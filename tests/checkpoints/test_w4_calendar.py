"""W4: the public calendar of a checkpoint and direction — every day of the booking window, one
per row, each hour's free places as the day grid gives them, closed hours marked (C3) and the
days the draw gives out (F1) with their request window."""

import datetime as dt
import re

import pytest
from django.db import transaction
from django.test import Client

from checkpoints import capacity
from checkpoints.models import Closure
from checkpoints.selectors import day_grid
from checkpoints.services import slot_take
from release.models import ReleaseWindow
from tests.checkpoints.factories import NOW, at

pytestmark = pytest.mark.django_db


def _calendar(code: str, query: str = "?direction=exit") -> tuple[int, str]:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/checkpoints/{code}/calendar/{query}")
    return response.status_code, response.content.decode()


def _cell(page: str, date: dt.date, hour: int) -> str:
    row = re.search(rf'<tr data-date="{date.isoformat()}">(.*?)</tr>', page, re.S).group(1)
    return re.search(rf'<td data-hour="{hour:02d}"[^>]*>(.*?)</td>', row, re.S).group(1)


def test_w4_calendar_shows_every_day_of_the_window_with_free_places(frozen_now, make_checkpoint):
    checkpoint = make_checkpoint(
        "NUR-ZHOLY", daily_capacity=48, opens_at=dt.time(9), closes_at=dt.time(18)
    )
    with transaction.atomic():
        slot_take(
            checkpoint=checkpoint, direction="exit", start=at(NOW.date(), 12), service="regular"
        )
    tomorrow = NOW.date() + dt.timedelta(days=1)
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=at(tomorrow, 9), ends_at=at(tomorrow, 11), reason="Works"
    )
    status, page = _calendar("NUR-ZHOLY")
    assert status == 200
    first, last = capacity.booking_window(NOW)
    dates = capacity.local_dates_of_period(first, last + capacity.SLOT_LENGTH)
    assert page.count("<tr data-date=") == len(dates)
    grid = {
        slot.start.hour: slot
        for slot in day_grid(
            checkpoint=checkpoint, direction="exit", date=NOW.date(), service="regular"
        ).slots
    }
    assert _cell(page, NOW.date(), 12).endswith(f"<br>{grid[12].free}")
    assert grid[12].free == grid[13].free - 1
    # Today's 10:00 is less than an hour ahead: outside the booking window (C4).
    assert _cell(page, NOW.date(), 10).endswith("<br>—")
    assert "closed" in _cell(page, tomorrow, 9)
    assert "closed" in _cell(page, tomorrow, 10)
    assert "closed" not in _cell(page, tomorrow, 11)


def test_w4_calendar_marks_the_days_of_the_draw(frozen_now, make_checkpoint):
    checkpoint = make_checkpoint("KORDAI")
    day = NOW.date() + dt.timedelta(days=20)
    ReleaseWindow.objects.create(
        checkpoint=checkpoint,
        direction="exit",
        day=day,
        opens_at=at(day - dt.timedelta(days=30), 10),
        closes_at=at(day - dt.timedelta(days=30), 11),
        carrier_limit=5,
        commitment="0" * 64,
        secret="1" * 64,
        created_at=NOW,
    )
    _, page = _calendar("KORDAI")
    row = re.search(rf'<tr data-date="{day.isoformat()}">(.*?)</tr>', page, re.S).group(1)
    assert "Draw: requests" in row
    _, entry = _calendar("KORDAI", "?direction=entry")
    row = re.search(rf'<tr data-date="{day.isoformat()}">(.*?)</tr>', entry, re.S).group(1)
    assert "Draw: requests" not in row


def test_w4_calendar_refuses_an_unknown_direction_or_checkpoint(make_checkpoint):
    make_checkpoint("KORDAI")
    assert _calendar("KORDAI", "?direction=sideways")[0] == 404
    assert _calendar("NOPE")[0] == 404
    assert _calendar("KORDAI", "")[0] == 200
