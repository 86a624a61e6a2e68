"""Statistics and open data (W5): the daily figures per checkpoint, direction and day, the public
page with its server-drawn charts, and the same numbers as CSV and JSON at stable URLs."""

import csv
import datetime as dt
import io
import re

import pytest
from django.conf import settings
from django.core.management import call_command

from bookings import services
from checkpoint_queue import services as queue_services
from checkpoints.models import Checkpoint
from checkpoints.services import reference_checkpoints_load
from open_data import figures
from open_data.models import DailyFigures, HourlyLoad
from open_data.services import daily_figures_rebuild
from open_data.tasks import aggregate_statistics
from tests.worlds import at, book, trucks

pytestmark = pytest.mark.django_db

DAY = at(1, 0).date()  # Saturday 21 March 2026, the made-up day


@pytest.fixture
def day_of_queue(world, staff, clock):
    """One day at KORDAI, exit, through the real services: five bookings, one cancelled, three
    arrived and called (after 60, 50 and 30 minutes), two crossed, one no-show."""
    world.top_up("100000000.00")
    first, second, absent, cancelled, fast = trucks(world, 5)
    b1 = book(world, vehicle=first, start=at(1, 9))
    b2 = book(world, vehicle=second, start=at(1, 9))
    book(world, vehicle=absent, start=at(1, 10))
    b4 = book(world, vehicle=cancelled, start=at(1, 10))
    b5 = book(world, vehicle=fast, start=at(1, 10), service="accelerated")
    services.booking_cancel(member=world.member, booking=b4)

    def step(moment, action):
        clock.move_to(moment)
        action()

    arrive = queue_services.booking_mark_arrived
    call = queue_services.queue_call_next
    cross = queue_services.booking_mark_crossed
    kordai = world.checkpoint
    step(at(1, 8), lambda: arrive(booking=b1, actor=staff))
    step(at(1, 8) + dt.timedelta(minutes=30), lambda: arrive(booking=b2, actor=staff))
    step(at(1, 9), lambda: call(checkpoint=kordai, direction="exit", actor=staff))
    step(
        at(1, 9) + dt.timedelta(minutes=20),
        lambda: call(checkpoint=kordai, direction="exit", actor=staff),
    )
    step(at(1, 9) + dt.timedelta(minutes=30), lambda: arrive(booking=b5, actor=staff))
    step(at(1, 9) + dt.timedelta(minutes=35), lambda: cross(booking=b1, actor=staff))
    step(at(1, 9) + dt.timedelta(minutes=40), lambda: cross(booking=b2, actor=staff))
    step(at(1, 10), lambda: call(checkpoint=kordai, direction="exit", actor=staff))
    step(at(1, 12), services.no_shows_sweep)
    clock.move_to(at(2, 1))
    return {"called": b5, "checkpoint": kordai}


def _figures(direction="exit"):
    return DailyFigures.objects.get(checkpoint__code="KORDAI", direction=direction, date=DAY)


def test_w5_daily_figures_of_a_made_up_day(day_of_queue):
    result = daily_figures_rebuild(day=DAY)
    assert result.created == 2 * Checkpoint.objects.bookable().count()
    row = _figures()
    kordai = day_of_queue["checkpoint"]
    # No override, no closure: the day offers the whole daily capacity (C1, C2).
    assert row.places_offered == kordai.daily_capacity
    assert row.requested is None  # no draw released these places: not applicable
    assert (row.booked, row.arrived, row.crossed, row.no_shows, row.cancellations) == (
        4,
        3,
        2,
        1,
        1,
    )
    assert row.waits_counted == 3
    assert row.wait_median_seconds == 50 * 60
    assert row.wait_p90_seconds == 60 * 60
    entry = _figures("entry")
    assert (entry.places_offered, entry.booked, entry.wait_median_seconds) == (
        kordai.daily_capacity,
        0,
        None,
    )
    hours = dict(
        HourlyLoad.objects.filter(
            checkpoint=kordai, direction="exit", date=DAY, booked__gt=0
        ).values_list("hour", "booked")
    )
    # Regular bookings only (the accelerated one takes a day quota), cancelled ones not.
    assert hours == {9: 2, 10: 1}


def test_w5_recomputing_a_day_gives_the_same_rows(day_of_queue, staff, clock):
    daily_figures_rebuild(day=DAY)
    before = list(DailyFigures.objects.order_by("pk").values())
    hours_before = list(HourlyLoad.objects.order_by("pk").values())
    clock.shift(dt.timedelta(hours=1))
    again = daily_figures_rebuild(day=DAY)
    assert again.changed == 0 and again.unchanged == len(before)
    assert list(DailyFigures.objects.order_by("pk").values()) == before
    assert list(HourlyLoad.objects.order_by("pk").values()) == hours_before
    # A late change (the called vehicle crosses) rewrites that one row only.
    queue_services.booking_mark_crossed(booking=day_of_queue["called"], actor=staff)
    changed = daily_figures_rebuild(day=DAY)
    assert (changed.updated, changed.created, changed.deleted) == (1, 0, 0)
    assert _figures().crossed == 3


def test_w5_requested_comes_from_a_registered_draw_source(day_of_queue):
    kordai = day_of_queue["checkpoint"]
    figures.register_requested_source("test-draw", lambda day: {(kordai.pk, "exit"): 7})
    try:
        daily_figures_rebuild(day=DAY)
    finally:
        figures.unregister_requested_source("test-draw")
    assert _figures().requested == 7
    assert _figures("entry").requested is None


def test_w5_p90_by_nearest_rank_and_median_of_an_even_count():
    assert figures.p90_seconds(list(range(1, 11))) == 9
    assert figures.p90_seconds([5]) == 5
    assert figures.median_seconds([10, 20]) == 15
    assert figures.median_seconds([]) is None and figures.p90_seconds([]) is None


def test_w5_command_and_nightly_job(day_of_queue, clock):
    out = io.StringIO()
    call_command("aggregate_statistics", "--day", DAY.isoformat(), stdout=out)
    assert "1 day(s)" in out.getvalue()
    # The nightly job computes yesterday and the two days before, again: nothing changed here.
    clock.move_to(at(2, 0) + dt.timedelta(minutes=35))
    assert aggregate_statistics() > 0  # the two days before were new
    assert aggregate_statistics() == 0
    assert settings.CELERY_BEAT_SCHEDULE["aggregate-statistics"]["task"] == (
        "open_data.tasks.aggregate_statistics"
    )
    with pytest.raises(Exception, match="has not ended"):
        call_command("aggregate_statistics", "--day", at(2, 0).date().isoformat())


QUERY = f"checkpoint=KORDAI&direction=exit&from={DAY}&to={DAY}"


def _page_numbers(html: str) -> dict[str, str]:
    row = re.search(rf'<tr data-date="{DAY}">(.*?)</tr>', html, re.S).group(1)
    return dict(re.findall(r'data-field="(\w+)">([^<]*)<', row))


@pytest.mark.parametrize("language", ["kk", "ru"])
def test_w5_page_draws_charts_and_a_table(day_of_queue, client, language):
    daily_figures_rebuild(day=DAY)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(f"/statistics/?{QUERY}")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('role="img"') == 3 and "<rect" in html
    assert "<circle" in html  # one day: a point per line
    assert 'role="img"' in html and "<desc" in html and 'id="daily-figures"' in html
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]
    assert f'lang="{language}"' in html
    # No figures before the day: no link to an earlier period; the day is yesterday: no later.
    assert "?checkpoint=KORDAI&amp;direction=exit&amp;from=2026-03-20" not in html
    numbers = _page_numbers(html)
    assert numbers["booked"] == "4" and numbers["wait_median_minutes"] == "50.0"


@pytest.mark.parametrize("language", ["ru", "kk", "en"])
def test_w5_chart_coordinates_are_plain_numbers_in_every_language(day_of_queue, client, language):
    """SVG reads only a decimal point: a coordinate written the Russian way ("40,5") puts the
    mark at 0, and the charts' labels and points pile up in a corner."""
    daily_figures_rebuild(day=DAY - dt.timedelta(days=1))
    daily_figures_rebuild(day=DAY)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    two_days = f"checkpoint=KORDAI&direction=exit&from={DAY - dt.timedelta(days=1)}&to={DAY}"
    html = client.get(f"/statistics/?{two_days}").content.decode()
    svgs = re.findall(r"<svg viewBox.*?</svg>", html, re.S)
    assert len(svgs) == 3
    geometry = re.compile(r' (x|y|x1|x2|y1|y2|cx|cy|r|width|height|viewBox|dy)="([^"]*)"')
    values = [value for svg in svgs for _name, value in geometry.findall(svg)]
    assert any("." in value for value in values)  # fractions are there to be written
    assert [value for value in values if not re.fullmatch(r"[-\d. ]+", value)] == []
    # A polyline's points are "x,y x,y …": the comma only between the two numbers of a point.
    polylines = re.findall(r' points="([^"]*)"', "".join(svgs))
    assert polylines
    for points in polylines:
        assert re.fullmatch(r"-?[\d.]+,-?[\d.]+( -?[\d.]+,-?[\d.]+)*", points), points


def test_w5_page_refuses_bad_input_in_the_readers_language(db, client):
    reference_checkpoints_load()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    response = client.get("/statistics/?from=2026-03-10&to=2026-03-01")
    assert response.status_code == 400
    assert 'class="field-error"' in response.content.decode()
    api = client.get("/api/v1/open-data/daily?from=yesterday")
    assert api.status_code == 400 and api.json()["error"]["fields"]["from"]


@pytest.mark.parametrize(
    "query",
    ["from=0001-01-02", "to=0001-01-05", "from=9999-12-31", "to=9999-12-30&from=9999-01-01"],
)
def test_w5_dates_off_the_calendar_are_refused_not_a_crash(db, client, query):
    reference_checkpoints_load()
    for url in ("/api/v1/open-data/daily", "/open-data/daily.csv", "/statistics/"):
        assert client.get(f"{url}?{query}").status_code == 400, url


def test_w5_csv_and_json_give_the_same_numbers_as_the_page(day_of_queue, client):
    daily_figures_rebuild(day=DAY)
    page = _page_numbers(client.get(f"/statistics/?{QUERY}").content.decode())
    response = client.get(f"/open-data/daily.csv?{QUERY}")
    assert response["Content-Type"].startswith("text/csv")
    assert '<https://creativecommons.org/licenses/by/4.0/>; rel="license"' in response["Link"]
    (csv_row,) = list(csv.DictReader(io.StringIO(response.content.decode())))
    body = client.get(f"/api/v1/open-data/daily?{QUERY}").json()
    assert body["licence"]["url"] == "https://creativecommons.org/licenses/by/4.0/"
    (json_row,) = body["results"]
    for field, shown in page.items():
        expected = "" if shown == "—" else shown
        assert csv_row[field] == expected, field
        value = json_row[field]
        assert (
            "" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)
        ) == expected, field
    assert csv_row["checkpoint"] == json_row["checkpoint"] == "KORDAI"


@pytest.mark.parametrize("url", ["/open-data/daily.csv", "/api/v1/open-data/daily"])
def test_w5_data_is_a_cached_public_read_with_etag_and_304(day_of_queue, staff, client, url):
    daily_figures_rebuild(day=DAY)
    first = client.get(f"{url}?{QUERY}")
    assert first.status_code == 200
    assert "public" in first["Cache-Control"] and "max-age" in first["Cache-Control"]
    etag = first["ETag"]
    again = client.get(f"{url}?{QUERY}", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    # A figure that changes gives a new ETag.
    queue_services.booking_mark_crossed(booking=day_of_queue["called"], actor=staff)
    daily_figures_rebuild(day=DAY)
    assert client.get(f"{url}?{QUERY}", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_w5_page_answers_304_to_its_own_etag(day_of_queue, client):
    daily_figures_rebuild(day=DAY)
    client.get(f"/statistics/?{QUERY}")  # the visit and CSRF cookies, which the ETag names
    first = client.get(f"/statistics/?{QUERY}")
    assert "private" in first["Cache-Control"]
    assert client.get(f"/statistics/?{QUERY}", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def _rows_for(checkpoint, first, days):
    DailyFigures.objects.bulk_create(
        DailyFigures(
            checkpoint=checkpoint,
            direction="exit",
            date=first + dt.timedelta(days=n),
            places_offered=100,
            booked=n % 50,
            arrived=0,
            crossed=0,
            no_shows=0,
            cancellations=0,
            waits_counted=0,
            computed_at=at(0, 0),
        )
        for n in range(days)
    )


def test_w5_data_is_paged_by_at_most_366_days(world, client):
    first = dt.date(2024, 1, 1)
    _rows_for(world.checkpoint, first, 800)
    last = first + dt.timedelta(days=799)
    body = client.get(f"/api/v1/open-data/daily?checkpoint=kordai&from={first}&to={last}").json()
    assert len(body["results"]) == 366 and body["previous"] is None
    assert body["results"][-1]["date"] == "2024-12-31"
    second = client.get(body["next"]).json()
    assert second["results"][0]["date"] == "2025-01-01" and len(second["results"]) == 366
    third = client.get(second["next"]).json()
    assert len(third["results"]) == 800 - 2 * 366 and third["next"] is None
    assert third["previous"] is not None
    csv_response = client.get(f"/open-data/daily.csv?checkpoint=KORDAI&from={first}&to={last}")
    assert len(csv_response.content.decode().strip().splitlines()) == 1 + 366
    assert 'rel="next"' in csv_response["Link"]


def test_w5_csv_cells_are_never_formulas(world, client):
    Checkpoint.objects.filter(pk=world.checkpoint.pk).update(code="=1+2")
    _rows_for(Checkpoint.objects.get(pk=world.checkpoint.pk), dt.date(2026, 3, 1), 1)
    body = client.get("/open-data/daily.csv?from=2026-03-01&to=2026-03-01").content.decode()
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["checkpoint"] == "'=1+2"
