"""W5 with F1–F5: the statistics' "requested" figure comes from the draws. The release app
registers the source; the nightly figures, the statistics page, the CSV and the JSON show, for a
day a draw released, the requests placed in it (withdrawn ones left out), 0 for a draw nobody
entered, and nothing where no draw ran."""

import csv
import datetime as dt
import io
import re

import pytest
from django.test import Client

from checkpoints.models import Checkpoint
from open_data import figures
from open_data.models import DailyFigures
from open_data.services import daily_figures_rebuild
from release import selectors, services
from release.models import ReleaseRequest
from tests.release.helpers import CLOSES, DAY, place
from tests.worlds import trucks

pytestmark = pytest.mark.django_db

QUERY = f"checkpoint=KORDAI&from={DAY}&to={DAY}"


@pytest.fixture
def drawn_day(world, draw_window, clock):
    """KORDAI's window for DAY, exit: five requests placed, one withdrawn, then drawn; two win
    (one place at 09:00 and one at 10:00), two are unsuccessful. The entry window of DAY has no
    request. The clock then moves to the day after DAY, when its figures are made."""
    window = draw_window()
    world.top_up("100000000.00")
    made = [place(world, vehicle=truck) for truck in trucks(world, 5)]
    services.request_withdraw(member=world.member, request=made[0])
    clock.move_to(CLOSES)
    result = services.window_draw(window_id=window.pk)
    assert (result.won, result.unsuccessful, result.skipped) == (2, 2, 0)
    window.refresh_from_db()
    assert window.request_count == 4
    clock.move_to(dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(1), tzinfo=CLOSES.tzinfo))
    return window


def test_w5_requested_counts_every_request_but_the_withdrawn_in_one_query(
    world, drawn_day, django_assert_num_queries
):
    kordai = world.checkpoint
    statuses = sorted(ReleaseRequest.objects.values_list("status", flat=True))
    assert statuses == ["unsuccessful", "unsuccessful", "withdrawn", "won", "won"]
    with django_assert_num_queries(1):
        counted = selectors.requests_per_checkpoint(DAY)
    # The draw's own count (F6) for exit; a window nobody entered is 0, not "no draw".
    assert counted == {(kordai.pk, "exit"): 4, (kordai.pk, "entry"): 0}
    # The release app registered it (ReleaseConfig.ready): it is what the figures read.
    assert figures.requested_on(DAY) == counted
    assert selectors.requests_per_checkpoint(DAY + dt.timedelta(days=40)) == {}


def test_w5_requested_in_the_daily_figures(world, drawn_day):
    daily_figures_rebuild(day=DAY)
    rows = DailyFigures.objects.filter(date=DAY)
    requested = {(row.checkpoint.code, row.direction): row.requested for row in rows}
    assert requested.pop(("KORDAI", "exit")) == 4
    assert requested.pop(("KORDAI", "entry")) == 0
    # Every other checkpoint released its places first-come: not applicable.
    assert requested and set(requested.values()) == {None}
    assert len(requested) == 2 * (Checkpoint.objects.bookable().count() - 1)
    exit_row = rows.get(checkpoint__code="KORDAI", direction="exit")
    assert exit_row.booked == 2  # the two winners, booked by the draw (F5)


def test_w5_requested_on_the_page_and_in_the_csv_and_json(world, drawn_day):
    daily_figures_rebuild(day=DAY)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for direction, expected in (("exit", "4"), ("entry", "0")):
        page = client.get(f"/statistics/?{QUERY}&direction={direction}").content.decode()
        row = re.search(rf'<tr data-date="{DAY}">(.*?)</tr>', page, re.S).group(1)
        assert re.search(r'data-field="requested">([^<]*)<', row).group(1) == expected
        # The places chart draws the requests beside what was offered and booked.
        assert "Requested in the draw" in page.split('id="places-svg-title">')[1].split("<")[0]
    response = client.get(f"/open-data/daily.csv?{QUERY}")
    csv_rows = {row["direction"]: row for row in csv.DictReader(io.StringIO(response.text))}
    assert (csv_rows["exit"]["requested"], csv_rows["entry"]["requested"]) == ("4", "0")
    body = client.get(f"/api/v1/open-data/daily?{QUERY}").json()
    json_rows = {row["direction"]: row for row in body["results"]}
    assert (json_rows["exit"]["requested"], json_rows["entry"]["requested"]) == (4, 0)
    # A checkpoint without a draw: empty in the CSV, null in the JSON, "—" on the page.
    other = f"checkpoint=NUR-ZHOLY&direction=exit&from={DAY}&to={DAY}"
    (plain,) = csv.DictReader(io.StringIO(client.get(f"/open-data/daily.csv?{other}").text))
    assert plain["requested"] == ""
    (result,) = client.get(f"/api/v1/open-data/daily?{other}").json()["results"]
    assert result["requested"] is None
    page = client.get(f"/statistics/?{other}").content.decode()
    assert 'data-field="requested">—<' in page
    assert 'id="places-svg-title">Places offered, Booked, Crossed<' in page
