"""W4 in the browser: the home page's soonest free hours, a checkpoint's page and its calendar on a
phone-sized screen in Kazakh and Russian — the waiting area with its map link, the neighbour's
checkpoint and a coming closure, the closed hours marked, nothing to scroll sideways — and
axe-core finds no serious issue (screenshots in test-artifacts/)."""

import datetime as dt
from decimal import Decimal

import pytest

from checkpoints.models import Checkpoint, Closure
from checkpoints.services import reference_checkpoints_load
from core import clock
from core.clock import ALMATY
from tests.e2e.conftest import artifacts_of
from tests.e2e.test_accessibility import (
    AXE,
    PHONE_VIEWPORT,
    axe_violations,
    check_title_and_landmarks,
    phone_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _nur_zholy_with_details() -> Checkpoint:
    reference_checkpoints_load()
    checkpoint = Checkpoint.objects.get(code="NUR-ZHOLY")
    checkpoint.counterpart_kk = "Қорғас"
    checkpoint.counterpart_ru = "Хоргос"
    checkpoint.waiting_area_kk = "Жаркент, Пограничная көшесі, 1 (сынақ мекенжайы)"
    checkpoint.waiting_area_ru = "Жаркент, ул. Пограничная, 1 (тестовый адрес)"
    checkpoint.waiting_area_latitude = Decimal("44.17000")
    checkpoint.waiting_area_longitude = Decimal("80.25000")
    checkpoint.route_ru = "С трассы повернуть у поста и ехать 2 км по указателям."
    checkpoint.contacts_ru = "+7 700 000 00 00"
    checkpoint.save()
    start = clock.now() + dt.timedelta(days=3)
    Closure.objects.create(
        checkpoint=checkpoint,
        starts_at=start,
        ends_at=start + dt.timedelta(hours=6),
        reason="Жөндеу жұмыстары / Ремонтные работы",
    )
    return checkpoint


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w4_checkpoint_page_on_a_phone(chromium, live_server, request, language):
    _nur_zholy_with_details()
    page = phone_page(chromium, live_server, language)
    folder = artifacts_of(request)
    page.goto("/")
    page.locator('a[href="/checkpoints/NUR-ZHOLY/"]').first.click()
    page.wait_for_url("**/checkpoints/NUR-ZHOLY/")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").inner_text() == ("Нұр Жолы" if language == "kk" else "Нур Жолы")
    body = page.locator("main").inner_text()
    assert ("Қорғас" if language == "kk" else "Хоргос") in body
    assert ("Пограничная көшесі" if language == "kk" else "ул. Пограничная") in body
    assert "Ремонтные работы" in body
    map_link = page.locator('a[href^="https://www.openstreetmap.org/"]')
    assert "mlat=44.17000" in map_link.get_attribute("href")
    # Readable on a phone: the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    page.screenshot(path=str(folder / f"01-checkpoint-{language}.png"), full_page=True)

    if AXE.exists():
        problems = check_title_and_landmarks(page, "/checkpoints/NUR-ZHOLY/")
        problems.extend(axe_violations(page, f"/checkpoints/NUR-ZHOLY/ ({language})"))
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w4_calendar_on_a_phone(chromium, live_server, request, language):
    _nur_zholy_with_details()
    page = phone_page(chromium, live_server, language)
    folder = artifacts_of(request)
    page.goto("/checkpoints/NUR-ZHOLY/")
    page.locator('a[href="/checkpoints/NUR-ZHOLY/calendar/?direction=exit"]').click()
    page.wait_for_url("**/calendar/?direction=exit")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("tr[data-date]").count() >= 30
    # The closure three days ahead is marked in its hours.
    assert page.locator("td.calendar-closed").count() >= 6
    # Only the table scrolls sideways, inside its own box; the page does not.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    page.screenshot(path=str(folder / f"01-calendar-{language}.png"))

    if AXE.exists():
        problems = check_title_and_landmarks(page, "/checkpoints/NUR-ZHOLY/calendar/")
        problems.extend(axe_violations(page, f"/checkpoints/NUR-ZHOLY/calendar/ ({language})"))
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w4_home_page_soonest_free_hour_on_a_phone(chromium, live_server, request, language):
    """Every checkpoint shows its soonest free hour in both directions; Nur Zholy's exit, closed
    for the next hours, shows the first hour after the closure, and opens the calendar there."""
    checkpoint = _nur_zholy_with_details()
    now = clock.now()
    closed_until = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=5)
    Closure.objects.create(
        checkpoint=checkpoint, direction="exit", starts_at=now, ends_at=closed_until, reason="—"
    )
    page = phone_page(chromium, live_server, language)
    folder = artifacts_of(request)
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == language
    items = page.locator(".checkpoints li:has(.soonest)")
    assert items.count() == Checkpoint.objects.bookable().count()
    assert page.locator(".soonest div[data-direction]").count() == 2 * items.count()
    nur_zholy = page.locator('.checkpoints li:has(a[href="/checkpoints/NUR-ZHOLY/"])')
    exit_link = nur_zholy.locator('[data-direction="exit"] a')
    start = dt.datetime.fromisoformat(exit_link.get_attribute("data-start"))
    assert start == closed_until
    assert exit_link.inner_text().endswith(closed_until.astimezone(ALMATY).strftime("%H:%M"))
    entry = dt.datetime.fromisoformat(
        nur_zholy.locator('[data-direction="entry"] a').get_attribute("data-start")
    )
    assert now + dt.timedelta(hours=1) <= entry < now + dt.timedelta(hours=2)
    # Readable on a phone: the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    page.screenshot(path=str(folder / f"01-home-{language}.png"), full_page=True)
    page.locator("#soonest-note").scroll_into_view_if_needed()
    page.screenshot(path=str(folder / f"02-home-soonest-{language}.png"))
    nur_zholy.screenshot(path=str(folder / f"03-home-nur-zholy-{language}.png"))

    problems = []
    if AXE.exists():
        problems = check_title_and_landmarks(page, "/")
        problems.extend(axe_violations(page, f"/ ({language})"))

    exit_link.click()
    page.wait_for_url(f"**/checkpoints/NUR-ZHOLY/calendar/?direction=exit#at-{start:%Y-%m-%d-%H}")

    def cell(moment: dt.datetime):
        local = moment.astimezone(ALMATY)
        return page.locator(f'tr[data-date="{local:%Y-%m-%d}"] td[data-hour="{local:%H}"]')

    # The hour named has places; the hour before it is the closure's last.
    assert int(cell(start).inner_text().split()[-1]) > 0
    # It is scrolled into view, beside its day, which stays in view (not under it).
    hour = cell(start).bounding_box()
    day = page.locator(f'tr[data-date="{start.astimezone(ALMATY):%Y-%m-%d}"] th').bounding_box()
    assert day["x"] + day["width"] <= hour["x"] + 1
    assert hour["x"] + hour["width"] <= PHONE_VIEWPORT["width"]
    assert 0 <= hour["y"] < PHONE_VIEWPORT["height"]
    assert cell(start - dt.timedelta(hours=1)).get_attribute("class") == "calendar-closed"
    page.screenshot(path=str(folder / f"04-calendar-from-home-{language}.png"))
    assert not problems, "\n".join(problems)
