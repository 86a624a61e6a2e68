"""W4 in the browser: a checkpoint's page on a phone-sized screen in Kazakh and Russian — the
waiting area with its map link, the neighbour's checkpoint and a coming closure, nothing to
scroll sideways — and axe-core finds no serious issue (screenshots in test-artifacts/)."""

import datetime as dt
from decimal import Decimal

import pytest

from checkpoints.models import Checkpoint, Closure
from checkpoints.services import reference_checkpoints_load
from core import clock
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
