"""The statistics page (W5) in a phone's browser, in Kazakh and Russian: its charts are drawn
(screenshots in test-artifacts/), its table says what the CSV says, and axe-core finds no serious
issue."""

import csv
import datetime as dt
import io

import pytest

from checkpoints.models import Checkpoint
from checkpoints.services import reference_checkpoints_load
from core import clock
from open_data.models import DailyFigures, HourlyLoad
from tests.e2e.conftest import artifacts_of
from tests.e2e.test_accessibility import (
    AXE,
    PHONE_VIEWPORT,
    axe_violations,
    check_title_and_landmarks,
    phone_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _ninety_days_of_figures() -> Checkpoint:
    reference_checkpoints_load()
    kordai = Checkpoint.objects.get(code="KORDAI")
    yesterday = clock.local_today() - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in range(90)]
    DailyFigures.objects.bulk_create(
        DailyFigures(
            checkpoint=kordai,
            direction="exit",
            date=day,
            places_offered=650,
            booked=400 + (n * 37) % 240,
            arrived=380 + (n * 37) % 230,
            crossed=360 + (n * 37) % 220,
            no_shows=n % 9,
            cancellations=n % 13,
            waits_counted=300,
            wait_median_seconds=1800 + (n * 311) % 3600,
            wait_p90_seconds=5400 + (n * 457) % 5400,
            computed_at=clock.now(),
        )
        for n, day in enumerate(days)
    )
    HourlyLoad.objects.bulk_create(
        HourlyLoad(
            checkpoint=kordai,
            direction="exit",
            date=day,
            hour=hour,
            offered=26,
            booked=min(26, (hour * 3 + day.weekday() * 4) % 30),
        )
        for day in days
        for hour in range(24)
    )
    return kordai


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w5_statistics_page_on_a_phone(chromium, live_server, request, language):
    _ninety_days_of_figures()
    page = phone_page(chromium, live_server, language)
    folder = artifacts_of(request)
    page.goto("/statistics/?checkpoint=KORDAI&direction=exit")
    assert page.locator("html").get_attribute("lang") == language
    charts = page.locator("svg[role=img]")
    assert charts.count() == 3
    for index in range(3):
        box = charts.nth(index).bounding_box()
        # Each chart fits the phone's width: nothing to scroll sideways to see it.
        assert box["width"] > 200 and box["x"] + box["width"] <= PHONE_VIEWPORT["width"]
    # Nor the page: only the wide tables scroll, inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_VIEWPORT["width"]
    # The form shows the range the charts draw.
    assert (
        page.locator("#id_to").input_value()
        == (clock.local_today() - dt.timedelta(days=1)).isoformat()
    )
    page.screenshot(path=str(folder / f"01-statistics-{language}.png"), full_page=True)
    charts.nth(2).screenshot(path=str(folder / f"02-heatmap-{language}.png"))

    table = page.locator("#daily-figures tbody tr")
    assert table.count() == 90
    last = table.last
    shown = {
        field: last.locator(f'[data-field="{field}"]').inner_text()
        for field in ("places_offered", "booked", "crossed", "wait_median_minutes")
    }
    csv_link = page.get_by_role("link", name="CSV")
    answer = page.request.get(csv_link.get_attribute("href"))
    assert answer.ok
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert len(rows) == 90
    assert {field: rows[-1][field] for field in shown} == shown

    if AXE.exists():
        problems = check_title_and_landmarks(page, "/statistics/")
        problems.extend(axe_violations(page, f"/statistics/ ({language})"))
        assert not problems, "\n".join(problems)
    page.context.close()
