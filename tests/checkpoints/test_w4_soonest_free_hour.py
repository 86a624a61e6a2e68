"""W4: the home page shows, for each checkpoint and direction, the soonest hour a carrier can
still book first-come — inside the booking window (C4), within the opening hours, not in a
closure (C3), not in a full hour, not on a day a draw keeps back (F1) — linked to that
checkpoint's calendar, with a clear text when there is none; and it reads the same few queries
whether it lists 2 checkpoints or 6."""

import datetime as dt
import re

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from checkpoints import capacity
from checkpoints.models import Closure, HourOverride, SlotCounter
from checkpoints.selectors import soonest_free_hours
from checkpoints.services import slot_take
from core.errors import ApplicationError
from release import services as release_services
from release.models import ReleaseMode, ReleaseWindow
from tests.checkpoints.factories import NOW, TOMORROW, at

pytestmark = pytest.mark.django_db


def _home() -> str:
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/")
    assert response.status_code == 200
    return response.content.decode()


def _shown(page: str, code: str, direction: str) -> str:
    """What one checkpoint's soonest-hour line says in one direction, tags removed."""
    item = re.search(rf'<a href="/checkpoints/{code}/">.*?</li>', page, re.S).group(0)
    row = re.search(rf'<div data-direction="{direction}">.*?<dd>(.*?)</dd>', item, re.S).group(1)
    row = re.sub(r'<span class="visually-hidden">.*?</span>', "", row)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()


def _soonest(checkpoint, direction="exit", now=NOW):
    return soonest_free_hours([checkpoint], now=now)[(checkpoint.pk, direction)].start


def _fill(checkpoint, direction: str, start: dt.datetime) -> None:
    """Take every regular place of an hour (C6: until the counter refuses)."""
    with transaction.atomic():
        while True:
            try:
                slot_take(
                    checkpoint=checkpoint, direction=direction, start=start, service="regular"
                )
            except ApplicationError as refusal:
                assert refusal.code == "slot_full"
                return


def test_w4_soonest_free_hour_is_the_first_hour_of_the_booking_window(frozen_now, make_checkpoint):
    checkpoint = make_checkpoint("NUR-ZHOLY")
    # 10:00 now: 11:00 is the first hour at least one hour ahead (C4).
    assert _soonest(checkpoint) == at(NOW.date(), 11)
    assert _soonest(checkpoint, now=NOW + dt.timedelta(minutes=1)) == at(NOW.date(), 12)
    page = _home()
    assert _shown(page, "NUR-ZHOLY", "exit") == "today, 11:00"
    assert _shown(page, "NUR-ZHOLY", "entry") == "today, 11:00"
    # The hour opens the checkpoint's calendar in that direction at that hour.
    assert (
        f'href="/checkpoints/NUR-ZHOLY/calendar/?direction=entry#at-{NOW.date().isoformat()}-11"'
        in page
    )
    calendar = Client(HTTP_ACCEPT_LANGUAGE="en").get("/checkpoints/NUR-ZHOLY/calendar/")
    assert f'data-hour="11" id="at-{NOW.date().isoformat()}-11"' in calendar.content.decode()


def test_w4_soonest_free_hour_skips_a_closure_of_its_direction(frozen_now, make_checkpoint):
    checkpoint = make_checkpoint("NUR-ZHOLY")
    Closure.objects.create(
        checkpoint=checkpoint,
        direction="exit",
        starts_at=at(NOW.date(), 10, 30),
        ends_at=at(NOW.date(), 14),
        reason="Works",
    )
    assert _soonest(checkpoint, "exit") == at(NOW.date(), 14)
    assert _soonest(checkpoint, "entry") == at(NOW.date(), 11)
    page = _home()
    assert _shown(page, "NUR-ZHOLY", "exit") == "today, 14:00"
    assert _shown(page, "NUR-ZHOLY", "entry") == "today, 11:00"


def test_w4_soonest_free_hour_skips_a_full_hour_and_an_hour_without_places(
    frozen_now, make_checkpoint
):
    checkpoint = make_checkpoint("NUR-ZHOLY", daily_capacity=48)
    _fill(checkpoint, "exit", at(NOW.date(), 11))
    # An operator left 12:00 open but without regular places (C1).
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=NOW.date(), hour=12, capacity=0
    )
    assert SlotCounter.objects.get(direction="exit", hour=11).free == 0
    assert _soonest(checkpoint, "exit") == at(NOW.date(), 13)
    assert _soonest(checkpoint, "entry") == at(NOW.date(), 11)
    assert _shown(_home(), "NUR-ZHOLY", "exit") == "today, 13:00"


def test_w4_soonest_free_hour_skips_the_hours_outside_the_opening_hours(
    frozen_now, make_checkpoint
):
    checkpoint = make_checkpoint("KORDAI", opens_at=dt.time(9), closes_at=dt.time(18))
    # At 17:30 the day's last hour (17:00) starts in less than an hour; the next one is 09:00.
    evening = at(NOW.date(), 17, 30)
    assert _soonest(checkpoint, now=evening) == at(TOMORROW, 9)
    # An override with places opens an hour outside them on its day (C1).
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=NOW.date(), hour=19, capacity=4
    )
    assert _soonest(checkpoint, now=evening) == at(NOW.date(), 19)
    frozen_now.move_to(evening)
    page = _home()
    assert _shown(page, "KORDAI", "exit") == "today, 19:00"
    assert _shown(page, "KORDAI", "entry") == "tomorrow, 09:00"


def test_w4_no_free_hour_in_the_booking_window_says_so(frozen_now, make_checkpoint):
    checkpoint = make_checkpoint("NUR-ZHOLY")
    Closure.objects.create(
        checkpoint=checkpoint,
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=40),
        reason="Reconstruction",
    )
    assert _soonest(checkpoint, "exit") is None
    page = _home()
    assert _shown(page, "NUR-ZHOLY", "exit") == "no free hour in the next 30 days"
    assert 'href="/checkpoints/NUR-ZHOLY/calendar/?direction=exit"' in page


def test_w4_soonest_free_hour_passes_over_the_days_a_draw_keeps_and_names_the_draw(
    frozen_now, make_checkpoint
):
    """Days a release window keeps for its draw are full to first-come booking (F1): the home
    page looks past them, and names the draw whose requests are taken now or next."""
    checkpoint = make_checkpoint("KORDAI")
    release_services.policy_update(
        checkpoint=checkpoint, actor=None, mode=ReleaseMode.DRAW, days_before=4
    )
    # Windows for the days from NOW + 5 on (a day's window opens 4 days before it at 10:00).
    release_services.windows_schedule()
    first_held = NOW.date() + dt.timedelta(days=5)
    held = ReleaseWindow.objects.filter(checkpoint=checkpoint, direction="exit")
    assert held.earliest("day").day == first_held
    # The days before it are closed: nothing is left first-come in the whole booking window.
    Closure.objects.create(
        checkpoint=checkpoint, starts_at=NOW, ends_at=at(first_held, 0), reason="Works"
    )
    assert _soonest(checkpoint, "exit") is None
    page = _home()
    assert _shown(page, "KORDAI", "exit") == (
        "no free hour in the next 30 days "
        f"Draw for {first_held:%a} {first_held:%d.%m}: requests 21.03 10:00–11:00"
    )
    # Once its window opens, the draw takes requests until it closes.
    frozen_now.move_to(at(TOMORROW, 10, 15))
    assert _shown(_home(), "KORDAI", "exit").endswith(
        f"Draw for {first_held:%a} {first_held:%d.%m}: requests until 11:00"
    )
    # Switched back to first-come, the windows not yet open give their places back (F8): the
    # day after the open one is the soonest.
    release_services.policy_update(checkpoint=checkpoint, actor=None, mode=ReleaseMode.FIRST_COME)
    after_it = first_held + dt.timedelta(days=1)
    assert _soonest(checkpoint, "exit", now=at(TOMORROW, 10, 15)) == at(after_it, 0)
    assert _shown(_home(), "KORDAI", "exit") == (
        f"{after_it:%a} {after_it:%d.%m}, 00:00 "
        f"Draw for {first_held:%a} {first_held:%d.%m}: requests until 11:00"
    )


def _home_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def _busy(checkpoint) -> None:
    """Something of everything the soonest hour reads: an override, a closure, a full hour."""
    HourOverride.objects.create(
        checkpoint=checkpoint, direction="exit", date=TOMORROW, hour=3, capacity=0
    )
    Closure.objects.create(
        checkpoint=checkpoint,
        direction="entry",
        starts_at=at(NOW.date(), 10),
        ends_at=at(NOW.date(), 13),
        reason="Works",
    )
    _fill(checkpoint, "exit", at(NOW.date(), 11))


def test_w4_home_page_queries_stay_flat_as_checkpoints_grow(frozen_now, make_checkpoint):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for n in range(2):
        _busy(make_checkpoint(f"CP-{n}", daily_capacity=24))
    client.get("/")  # the visitor's first visit and cookies
    with_two = _home_queries(client)
    for n in range(2, 6):
        _busy(make_checkpoint(f"CP-{n}", daily_capacity=24))
    with_six = _home_queries(client)
    # Countries, checkpoints, overrides, closures, full counters, the draws' windows.
    assert with_six == with_two == 6
    page = client.get("/").content.decode()
    for n in range(6):
        assert _shown(page, f"CP-{n}", "exit") == "today, 12:00"
        assert _shown(page, f"CP-{n}", "entry") == "today, 13:00"


def test_w4_soonest_free_hours_of_any_number_of_checkpoints_in_three_queries(
    frozen_now, make_checkpoint, django_assert_max_num_queries
):
    checkpoints = [make_checkpoint(f"CP-{n}") for n in range(6)]
    for checkpoint in checkpoints:
        _busy(checkpoint)
    with django_assert_max_num_queries(3):
        found = soonest_free_hours(checkpoints, now=NOW)
    assert len(found) == 12
    assert {found[(c.pk, "exit")].start for c in checkpoints} == {at(NOW.date(), 12)}
    with django_assert_max_num_queries(0):
        assert soonest_free_hours([], now=NOW) == {}


def test_w4_soonest_free_hour_agrees_with_the_calendar(frozen_now, make_checkpoint):
    """The hour the home page names is the calendar's first bookable hour with a place."""
    from checkpoints.public_reads import public_day_grid

    checkpoint = make_checkpoint("NUR-ZHOLY", opens_at=dt.time(8), closes_at=dt.time(20))
    _busy(checkpoint)
    for direction in ("exit", "entry"):
        first = None
        for date in capacity.local_dates_of_period(*capacity.booking_window(NOW)):
            grid = public_day_grid(
                checkpoint=checkpoint, direction=direction, date=date, service="regular"
            )
            first = next((slot.start for slot in grid.value.slots if slot.bookable), None)
            if first:
                break
        assert _soonest(checkpoint, direction) == first
