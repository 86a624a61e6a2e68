"""Receipt periods at the calendar's ends (found by the API's hostile-input run): a day whose
start in Almaty time has no UTC moment (0001-01-01) or that has no next day (9999-12-31) is
refused as a field error, never a server error, in the API and on the receipts page."""

import pytest

from tests.receipts.helpers import api_get, token_of

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0001-01-01", "to": "0001-01-01"}, "from"),
        ({"from": "2026-03-01", "to": "9999-12-31"}, "to"),
    ],
)
def test_receipt_archive_refuses_days_at_the_calendars_ends(client, world, params, field):
    response = api_get(client, token_of(world.member.user), "/api/v1/receipts/archive", **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"][field] == ["Choose a day between 2000-01-01 and 2099-12-31."]


@pytest.mark.parametrize("params", [{"from": "0001-01-01"}, {"to": "9999-12-31"}])
def test_receipt_list_refuses_days_at_the_calendars_ends(client, world, params):
    response = api_get(client, token_of(world.member.user), "/api/v1/receipts", **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {
        name: ["Choose a day between 2000-01-01 and 2099-12-31."] for name in params
    }


def test_receipt_list_still_reads_the_first_and_last_allowed_days(client, world):
    response = api_get(
        client,
        token_of(world.member.user),
        "/api/v1/receipts",
        **{"from": "2000-01-01", "to": "2099-12-31"},
    )
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_receipts_page_refuses_a_day_at_the_calendars_end(world, sign_in_browser):
    from django.test import Client

    browser = sign_in_browser(Client(), world.member.user)
    page = browser.get("/cabinet/receipts/?since=0001-01-01", **EN)
    assert page.status_code == 200
    assert "Choose a day between 2000-01-01 and 2099-12-31." in page.content.decode()
