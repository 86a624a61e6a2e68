"""Receipts in the personal account (P5, A5): the owner and accountants list, filter and download
them, one by one or all of a period as a ZIP; dispatchers are refused; other carriers' receipts
do not exist for them."""

import datetime as dt
import io
import zipfile

import pytest
from django.test import Client

from bookings import services as bookings
from core.clock import ALMATY
from receipts.models import Receipt
from tests.receipts.helpers import (
    EN,
    api_get,
    book,
    new_truck,
    person_of,
    slot_after,
    token_of,
    transfer,
)
from tests.worlds import make_other_world

pytestmark = pytest.mark.django_db

LIST_KEYS = {
    "id",
    "number",
    "booking",
    "service",
    "amount",
    "paid_at",
    "transferred_at",
    "verification_code",
}


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ALMATY)


@pytest.fixture
def receipts(world, eager, commit):
    """A regular fee and a re-booking fee, transferred: two receipts."""
    world.top_up("1000000.00")
    booking = book(world)
    bookings.booking_reschedule(member=world.member, booking=booking, slot_start=slot_after(3))
    transfer(commit)
    return booking, list(Receipt.objects.order_by("pk"))


@pytest.fixture
def accountant(world, fake_twilio):
    return person_of(world, fake_twilio, "accountant", n=1)


@pytest.fixture
def dispatcher(world, fake_twilio):
    return person_of(world, fake_twilio, "dispatcher", n=2)


@pytest.fixture
def stranger_receipt(world, fake_twilio, eager, commit):
    """A receipt of another carrier."""
    other = make_other_world(fake_twilio)
    other.top_up("1000000.00", reference="OTHER")
    book(other)
    transfer(commit)
    return Receipt.objects.get(carrier=other.carrier)


def test_p5_the_owner_lists_receipts_with_the_api_shape(client, world, receipts):
    booking, (fee, _rebooking) = receipts
    body = api_get(client, token_of(world.member.user), "/api/v1/receipts").json()
    assert body["count"] == 2 and {"next", "previous"} <= body.keys()
    rows = {row["service"]: row for row in body["results"]}
    assert set(rows) == {"regular", "rebooking"}
    assert rows["regular"].keys() >= LIST_KEYS
    assert rows["regular"] == {
        **rows["regular"],
        "id": fee.pk,
        "number": fee.number,
        "booking": booking.number,
        "amount": "4325.00",
        "paid_at": "2026-03-20T10:00:00+05:00",
        "transferred_at": "2026-03-20T10:00:00+05:00",
        "verification_code": fee.verification_code,
    }
    assert rows["rebooking"]["amount"] == "432500.00"


def test_p5_list_filters_by_period_service_and_booking(client, world, receipts):
    booking, _ = receipts
    token = token_of(world.member.user)

    def count(**params):
        return api_get(client, token, "/api/v1/receipts", **params).json()["count"]

    assert count(service="rebooking") == 1
    assert count(booking=booking.number) == 2
    assert count(**{"from": "2026-03-20", "to": "2026-03-20"}) == 2
    assert count(**{"from": "2026-03-21"}) == 0
    assert count(to="2026-03-19") == 0
    bad = api_get(client, token, "/api/v1/receipts", booking="K-0000001-0")
    assert bad.status_code == 400
    assert "booking" in bad.json()["error"]["fields"]


def test_a5_the_accountant_lists_and_downloads_receipts(client, world, receipts, accountant):
    _, (fee, _rebooking) = receipts
    token = token_of(accountant)
    assert api_get(client, token, "/api/v1/receipts").json()["count"] == 2
    pdf = api_get(client, token, f"/api/v1/receipts/{fee.pk}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content) == bytes(fee.pdf)
    assert f'filename="{fee.number}.pdf"' in pdf["Content-Disposition"]
    archive = api_get(
        client, token, "/api/v1/receipts/archive", **{"from": "2026-03-01", "to": "2026-03-31"}
    )
    assert archive.status_code == 200 and archive["Content-Type"] == "application/zip"


def test_a5_a_dispatcher_is_refused_receipts(client, world, receipts, dispatcher, sign_in_browser):
    _, (fee, _rebooking) = receipts
    token = token_of(dispatcher)
    for path in (
        "/api/v1/receipts",
        f"/api/v1/receipts/{fee.pk}/pdf",
        "/api/v1/receipts/archive?from=2026-03-01&to=2026-03-31",
    ):
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", **EN)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "forbidden"
    browser = sign_in_browser(Client(), dispatcher)
    for path in (
        "/cabinet/receipts/",
        f"/cabinet/receipts/{fee.pk}/pdf/",
        "/cabinet/receipts/archive/?since=2026-03-01&until=2026-03-31",
    ):
        page = browser.get(path, **EN)
        assert page.status_code == 403, path
        assert (
            "Only the carrier's owner or an accountant can see receipts." in page.content.decode()
        )
    assert "/cabinet/receipts/" not in browser.get("/cabinet/", **EN).content.decode()


def test_a5_another_carriers_receipt_does_not_exist_for_them(
    client, world, receipts, stranger_receipt, sign_in_browser
):
    token = token_of(world.member.user)
    assert api_get(client, token, "/api/v1/receipts").json()["count"] == 2
    response = api_get(client, token, f"/api/v1/receipts/{stranger_receipt.pk}/pdf")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    browser = sign_in_browser(Client(), world.member.user)
    assert browser.get(f"/cabinet/receipts/{stranger_receipt.pk}/pdf/", **EN).status_code == 404
    zipped = api_get(
        client, token, "/api/v1/receipts/archive", **{"from": "2026-03-20", "to": "2026-03-20"}
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content))).namelist()
    assert f"{stranger_receipt.number}.pdf" not in names and len(names) == 2


def test_p5_the_zip_holds_exactly_the_receipts_of_the_period_in_almaty_time(
    client, world, clock, eager, commit
):
    """Transfers just before and after the midnights that bound April (Almaty, UTC+5)."""
    world.top_up("10000000.00")
    numbers = {}
    for label, moment in [
        ("march", local(2026, 3, 31, 23, 30)),  # 18:30 UTC on 31 March
        ("april_first", local(2026, 4, 1, 0, 10)),  # 19:10 UTC on 31 March
        ("april_last", local(2026, 4, 30, 23, 50)),
        ("may", local(2026, 5, 1, 0, 5)),
    ]:
        clock.move_to(moment)
        book(world, vehicle=new_truck(world))
        (batch,) = transfer(commit)
        numbers[label] = Receipt.objects.get(batch=batch).number

    token = token_of(world.member.user)
    response = api_get(
        client, token, "/api/v1/receipts/archive", **{"from": "2026-04-01", "to": "2026-04-30"}
    )
    assert response.status_code == 200
    assert 'filename="kezek-receipts-20260401-20260430.zip"' in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == sorted(
        [f"{numbers['april_first']}.pdf", f"{numbers['april_last']}.pdf"]
    )
    for name in archive.namelist():
        stored = Receipt.objects.get(number=name.removesuffix(".pdf"))
        assert archive.read(name) == bytes(stored.pdf)

    # The list of the same period agrees.
    listed = api_get(
        client, token, "/api/v1/receipts", **{"from": "2026-04-01", "to": "2026-04-30"}
    )
    assert {row["number"] for row in listed.json()["results"]} == {
        numbers["april_first"],
        numbers["april_last"],
    }


def test_p5_archive_needs_a_period_of_at_most_a_year(client, world, receipts):
    token = token_of(world.member.user)
    missing = api_get(client, token, "/api/v1/receipts/archive", **{"from": "2026-03-01"})
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"to"}
    too_long = api_get(
        client, token, "/api/v1/receipts/archive", **{"from": "2025-01-01", "to": "2026-03-31"}
    )
    assert too_long.status_code == 400
    backwards = api_get(
        client, token, "/api/v1/receipts/archive", **{"from": "2026-03-31", "to": "2026-03-01"}
    )
    assert backwards.status_code == 400


def test_p5_the_receipts_page_lists_filters_and_zips(world, receipts, accountant, sign_in_browser):
    booking, (fee, rebooking) = receipts
    browser = sign_in_browser(Client(), accountant)
    assert "/cabinet/receipts/" in browser.get("/cabinet/", **EN).content.decode()

    page = browser.get("/cabinet/receipts/", **EN).content.decode()
    for fact in (fee.number, rebooking.number, booking.number, "432\u202f500.00 ₸"):
        assert fact in page, fact
    assert f"/cabinet/receipts/{fee.pk}/pdf/" in page
    assert "Download all of the period (ZIP)" in page
    assert "no certificate of completed work" in page  # P5

    only_rebooking = browser.get("/cabinet/receipts/", {"service": "rebooking"}, **EN)
    assert list(only_rebooking.context["page"].object_list) == [rebooking]
    by_booking = browser.get("/cabinet/receipts/", {"booking": booking.number}, **EN)
    assert len(by_booking.context["page"].object_list) == 2
    wrong = browser.get("/cabinet/receipts/", {"booking": "K-12"}, **EN)
    assert list(wrong.context["page"].object_list) == []
    assert "is not a booking number" in wrong.content.decode()
    later = browser.get("/cabinet/receipts/", {"since": "2026-03-21"}, **EN)
    assert list(later.context["page"].object_list) == []

    pdf = browser.get(f"/cabinet/receipts/{fee.pk}/pdf/", **EN)
    assert pdf.status_code == 200
    assert b"".join(pdf.streaming_content) == bytes(fee.pdf)

    zipped = browser.get(
        "/cabinet/receipts/archive/",
        {"since": "2026-03-20", "until": "2026-03-20", "service": "rebooking"},
        **EN,
    )
    names = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content))).namelist()
    assert sorted(names) == sorted([f"{fee.number}.pdf", f"{rebooking.number}.pdf"])

    no_period = browser.get(
        "/cabinet/receipts/archive/", {"since": "2026-03-20"}, follow=True, **EN
    )
    assert no_period.redirect_chain[-1][0].startswith("/cabinet/receipts/")
    assert "This field is required." in no_period.content.decode()
