import csv
import html
import io
import re
from decimal import Decimal

import pytest
from django.test import Client

from bookings.models import booking_number
from carriers.models import Member
from deposits import services
from deposits.models import RefundRequest
from tests.auth2fa.factories import registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def owner(fake_twilio):
    return registered_person(fake_twilio)


@pytest.fixture
def carrier(owner):
    return Member.objects.get(user=owner).carrier


@pytest.fixture
def token(owner):
    from auth2fa.models import ApiToken
    from auth2fa.services import api_token_issue

    return api_token_issue(user=owner, kind=ApiToken.Kind.PERSONAL).secret


def api(client, token, method, path, **kwargs):
    return getattr(client, method)(
        path, HTTP_AUTHORIZATION=f"Bearer {token}", content_type="application/json", **kwargs
    )


def test_p1_p2_account_api_shows_number_and_balances(client, carrier, token):
    services.account_top_up(carrier=carrier, amount=Decimal("100000"), bank_reference="B1")
    services.deposit_hold(carrier=carrier, amount=Decimal("86500"), reference=("booking", "9"))
    body = api(client, token, "get", "/api/v1/account").json()
    assert body == {
        "number": carrier.personal_account.number,
        "currency": "KZT",
        "available": "13500.00",
        "held": "86500.00",
        "pending_refunds": "0.00",
    }


def test_p2_entries_api_lists_signed_movements_paginated(client, carrier, token):
    services.account_top_up(carrier=carrier, amount=Decimal("100000"), bank_reference="B1")
    services.fee_charge(carrier=carrier, amount=Decimal("4325"), reference=("booking", "9"))
    body = api(client, token, "get", "/api/v1/account/entries").json()
    assert body["count"] == 2
    newest = body["results"][0]
    assert newest["kind"] == "fee" and newest["amount"] == "-4325.00"
    assert newest["booking"] == booking_number(9)
    assert body["results"][1]["amount"] == "100000.00"


def test_p3_refund_api_is_idempotent(client, carrier, token):
    services.account_top_up(carrier=carrier, amount=Decimal("10000"), bank_reference="B1")
    request = {"amount": "2500.00", "iban": "KZ86125KZT5004100100"}
    first = api(
        client,
        token,
        "post",
        "/api/v1/account/refunds",
        data=request,
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    again = api(
        client,
        token,
        "post",
        "/api/v1/account/refunds",
        data=request,
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"id": first.json()["id"], "status": "requested"}
    assert RefundRequest.objects.count() == 1
    other = api(
        client,
        token,
        "post",
        "/api/v1/account/refunds",
        data={**request, "amount": "1.00"},
        HTTP_IDEMPOTENCY_KEY="refund-1",
    )
    assert other.status_code == 422


def test_p3_refund_api_refuses_a_bad_iban_in_the_error_shape(client, carrier, token):
    services.account_top_up(carrier=carrier, amount=Decimal("10000"), bank_reference="B1")
    response = api(
        client, token, "post", "/api/v1/account/refunds", data={"amount": "1.00", "iban": "KZ00"}
    )
    assert response.status_code == 400
    assert "iban" in response.json()["error"]["fields"]


def test_a5_a_dispatcher_sees_balances_but_not_the_statement_or_refunds(
    client, carrier, owner, fake_twilio
):
    from auth2fa.models import ApiToken
    from auth2fa.services import api_token_issue

    dispatcher = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="d@steppe.kz",
        name="Other",
    )
    Member.objects.filter(user=dispatcher).update(carrier=carrier, role="dispatcher")
    secret = api_token_issue(user=dispatcher, kind=ApiToken.Kind.PERSONAL).secret
    assert api(client, secret, "get", "/api/v1/account").status_code == 200
    assert api(client, secret, "get", "/api/v1/account/entries").status_code == 403
    response = api(
        client,
        secret,
        "post",
        "/api/v1/account/refunds",
        data={"amount": "1.00", "iban": "KZ86125KZT5004100100"},
    )
    assert response.status_code == 403


def test_a5_accounts_are_isolated_between_carriers(client, carrier, token, fake_twilio):
    other = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="o@other.kz",
        name="Other",
    )
    other_carrier = Member.objects.get(user=other).carrier
    services.account_top_up(carrier=other_carrier, amount=Decimal("999"), bank_reference="THEIRS")
    assert api(client, token, "get", "/api/v1/account/entries").json()["count"] == 0
    assert api(client, token, "get", "/api/v1/account").json()["available"] == "0.00"


def test_p1_account_page_shows_balances_and_top_up_instructions(carrier, owner, sign_in_browser):
    services.account_top_up(carrier=carrier, amount=Decimal("78640"), bank_reference="B1")
    browser = sign_in_browser(Client(), owner)
    page = browser.get("/cabinet/account/", **EN).content.decode()
    assert "78\u202f640.00 ₸" in page
    assert "KZ86125KZT5004100100" in page
    assert f"Top-up of personal account {carrier.personal_account.number}" in page


def test_p2_statement_filters_and_csv_export(carrier, owner, sign_in_browser):
    services.account_top_up(carrier=carrier, amount=Decimal("10000"), bank_reference="B1")
    services.fee_charge(carrier=carrier, amount=Decimal("4325"), reference=("booking", "9"))
    browser = sign_in_browser(Client(), owner)
    page = browser.get("/cabinet/account/", {"kind": "fee"}, **EN).content.decode()
    assert "-4\u202f325.00 ₸" in page and "+10\u202f000.00 ₸" not in page
    export = browser.get("/cabinet/account/", {"format": "csv"}, **EN)
    assert export["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == ["Time", "Kind", "Amount", "Booking", "Description"]
    assert [row[2] for row in rows[1:]] == ["-4325.00", "10000.00"]


def test_d3_statement_shows_the_sum_of_a_forfeited_deposit_and_where_it_came_from(
    carrier, owner, sign_in_browser
):
    """A forfeiture leaves the available money as it was; the line still says how much was kept
    and that it came out of the held deposits, not a bare 0.00."""
    services.account_top_up(carrier=carrier, amount=Decimal("100000"), bank_reference="B1")
    hold = services.deposit_hold(
        carrier=carrier, amount=Decimal("86500"), reference=("booking", "9")
    )
    services.hold_forfeit(hold=hold, reason="Second no-show within 90 days")
    browser = sign_in_browser(Client(), owner)
    page = browser.get("/cabinet/account/", {"kind": "deposit_forfeit"}, **EN).content.decode()
    assert "86\u202f500.00 ₸<br>Held (deposits)" in page


def test_p3_refund_form_on_the_page(carrier, owner, sign_in_browser):
    services.account_top_up(carrier=carrier, amount=Decimal("10000"), bank_reference="B1")
    browser = sign_in_browser(Client(), owner)
    bad = browser.post("/cabinet/account/", {"amount": "5", "iban": "KZ87125KZT5004100100"}, **EN)
    assert "check digits" in bad.content.decode()
    good = browser.post("/cabinet/account/", {"amount": "5", "iban": "KZ86125KZT5004100100"})
    assert good.status_code == 302
    assert RefundRequest.objects.get().amount == Decimal("5.00")


def test_p2_the_statement_is_paged_and_a_page_costs_the_same_however_long_the_history(
    carrier, owner, sign_in_browser, django_assert_num_queries
):
    """Up to 500 entries were rendered at once, and a carrier with years of history paid for
    them on every visit. A page holds 100, newest first; "Older operations" gives the next 100
    without overlap or gap, also among entries of the same second."""
    for n in range(230):
        services.account_top_up(carrier=carrier, amount=Decimal(n + 1), bank_reference=f"B{n}")
    browser = sign_in_browser(Client(), owner)

    def amounts(page: str) -> list[str]:
        return re.findall(r'<td class="num">\+([\d\u202f]+)\.00 ₸', page)

    first = browser.get("/cabinet/account/", **EN).content.decode()
    older = re.search(r'href="\?([^"]*before=\d+[^"]*)">Older operations', first).group(1)
    second = browser.get(f"/cabinet/account/?{html.unescape(older)}", **EN).content.decode()
    older = re.search(r'href="\?([^"]*before=\d+[^"]*)">Older operations', second).group(1)
    third = browser.get(f"/cabinet/account/?{html.unescape(older)}", **EN).content.decode()
    assert "Older operations" not in third and "Newest operations" in third
    seen = [int(a.replace("\u202f", "")) for page in (first, second, third) for a in amounts(page)]
    assert seen == list(range(230, 0, -1))
    # An older page reads what the newest does and the entry it starts after (the anchor).
    with django_assert_num_queries(len(_queries_of(browser, "/cabinet/account/")) + 1):
        browser.get(f"/cabinet/account/?{html.unescape(older)}", **EN)


def _queries_of(browser, path: str) -> list:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        browser.get(path, **EN)
    return queries.captured_queries
