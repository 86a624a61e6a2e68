"""The statistics page (W5) in a phone's browser, in Kazakh and Russian: its charts are drawn
(screenshots in test-artifacts/), each with a table of the same numbers, its table says what the
CSV and the JSON behind its links say, every row and field, and axe-core finds no serious
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
            # The last 30 days were released by a draw (F1): their requests are known.
            requested=700 + (n * 53) % 300 if n < 30 else None,
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
    for index, name in enumerate(("places", "waits", "load")):
        section = page.locator(f'section[aria-labelledby="{name}-title"]')
        section.screenshot(path=str(folder / f"0{index + 2}-{name}-{language}.png"))
    for index in range(2):
        # The axes' labels stand apart, in order: dates left to right, values top to bottom
        # (in Russian too, whose decimal comma must not reach the SVG's coordinates).
        dates = charts.nth(index).locator('text[text-anchor="middle"]')
        values = charts.nth(index).locator('text[text-anchor="end"]')
        xs = [dates.nth(n).bounding_box()["x"] for n in range(dates.count())]
        ys = [values.nth(n).bounding_box()["y"] for n in range(values.count())]
        assert len(xs) >= 4 and xs == sorted(set(xs)), xs
        assert len(ys) == 5 and ys == sorted(set(ys), reverse=True), ys
    # The chart of places draws four lines, the requests of the draw's days among them.
    assert charts.nth(0).locator("polyline").count() == 4
    assert page.locator(".chart-legend").first.locator("li").count() == 4

    # Each chart's text alternative is a table of the same numbers.
    table = page.locator("#daily-figures tbody tr")
    assert table.count() == 90
    shown = [
        {
            cell.get_attribute("data-field"): cell.inner_text()
            for cell in row.locator("td[data-field]").all()
        }
        | {"date": row.get_attribute("data-date")}
        for row in table.all()
    ]
    heat_table = page.locator("details:has(#load-table-caption)")
    heat_table.locator("summary").click()
    heat_rows = heat_table.locator("tbody tr")
    assert heat_rows.count() == 24
    # 08:00 on a Monday: the chart's cell and the table's cell say the same share.
    monday_eight = heat_rows.nth(8).locator("td").first.inner_text()
    titles = charts.nth(2).locator("rect > title").all_text_contents()
    assert titles[8].split("—")[1].strip().startswith(monday_eight)
    heat_table.screenshot(path=str(folder / f"05-load-table-{language}.png"))

    # The CSV and the JSON behind the page's links answer with the same numbers as its table.
    def as_shown(value) -> str:
        if value is None or value == "":
            return "—"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    answer = page.request.get(page.get_by_role("link", name="CSV").get_attribute("href"))
    assert answer.ok and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text())))
    assert [{field: as_shown(row[field]) for field in shown[0]} for row in rows] == shown
    answer = page.request.get(page.get_by_role("link", name="JSON").get_attribute("href"))
    assert answer.ok and answer.headers["content-type"].startswith("application/json")
    results = answer.json()["results"]
    assert [{field: as_shown(row[field]) for field in shown[0]} for row in results] == shown
    assert results[-1]["requested"] is not None and results[0]["requested"] is None

    if AXE.exists():
        problems = check_title_and_landmarks(page, "/statistics/")
        problems.extend(axe_violations(page, f"/statistics/ ({language})"))
        assert not problems, "\n".join(problems)
    page.context.close()
