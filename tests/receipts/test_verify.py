"""The public verification of receipts (P5): page and API, genuine, unknown, altered and not a
code at all; rate-limited per IP address."""

import pytest
from django.test import Client

from receipts.codes import ALPHABET, CodeState, new_verification_code, parse_verification_code
from receipts.models import Receipt
from tests.receipts.helpers import EN, book, transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt(world, eager, commit):
    world.top_up("1000000.00")
    book(world)
    transfer(commit)
    return Receipt.objects.get()


def altered(code: str) -> str:
    """The code with one character of its random part changed."""
    for replacement in ALPHABET:
        if replacement != code[5]:
            candidate = code[:5] + replacement + code[6:]
            if parse_verification_code(candidate).state == CodeState.ALTERED:
                return candidate
    raise AssertionError("no alteration found")


def api(code: str, client=None):
    return (client or Client()).get(f"/api/v1/receipts/verify/{code}", **EN)


def page(code: str, client=None):
    return (client or Client()).get(f"/receipts/verify/{code}/", **EN)


def test_p5_a_genuine_code_shows_the_receipts_key_facts(receipt):
    body = api(receipt.verification_code).json()
    assert body["valid"] is True
    assert body["number"] == receipt.number
    assert body["amount"] == "4325.00"
    assert body["transferred_at"] == "2026-03-20T10:00:00+05:00"
    assert body["payer_iin_bin"] == "********2340"
    assert body["payment_order"] == receipt.batch.payment_order_number

    shown = page(receipt.verification_code)
    assert shown.status_code == 200
    html = shown.content.decode()
    assert "The receipt is genuine" in html
    for fact in (receipt.number, "4\u202f325.00 ₸", "20.03.2026 10:00", "********2340"):
        assert fact in html, fact
    assert "230140012340" not in html  # only the last 4 digits of the IIN/BIN


def test_p5_the_qr_code_of_the_receipt_opens_its_verification_page(receipt):
    from urllib.parse import urlsplit

    from receipts.pdf import verification_url

    url = verification_url(receipt.verification_code)
    assert url == f"http://127.0.0.1:8000/receipts/verify/{receipt.verification_code}/"
    assert "The receipt is genuine" in page(receipt.verification_code).content.decode()
    assert Client().get(urlsplit(url).path, **EN).status_code == 200


def test_p5_a_code_is_read_as_people_type_it(receipt):
    typed = receipt.verification_code.replace("-", " ").lower()
    assert api(typed.replace(" ", "")).json()["number"] == receipt.number
    form = Client().get("/receipts/verify/", {"code": typed}, **EN)
    assert form.status_code == 302
    assert form["Location"] == f"/receipts/verify/{receipt.verification_code}/"


def test_p5_an_altered_code_is_told_apart_from_an_unknown_one(receipt):
    changed = altered(receipt.verification_code)
    response = api(changed)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "code_altered"
    shown = page(changed)
    assert shown.status_code == 404
    assert "This code has been altered" in shown.content.decode()

    unknown = new_verification_code()  # well-formed, never issued
    response = api(unknown)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    shown = page(unknown)
    assert shown.status_code == 404
    assert "Unknown code" in shown.content.decode()
    assert "The receipt is genuine" not in shown.content.decode()


def test_p5_something_that_is_not_a_code(receipt):
    response = api("HELLO-WORLD")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert page("HELLO-WORLD").status_code == 404
    form = Client().get("/receipts/verify/", {"code": "12345"}, **EN)
    assert form.status_code == 200
    assert "This is not a receipt verification code" in form.content.decode()


def test_p5_the_form_page_is_public(db):
    response = Client().get("/receipts/verify/", **EN)
    assert response.status_code == 200
    assert 'name="code"' in response.content.decode()


def test_p5_verification_is_rate_limited_per_ip_page_and_api_together(receipt, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"receipt_verify": "3/min"},
    }
    code = receipt.verification_code
    assert api(code).status_code == 200
    assert page(code).status_code == 200
    assert api(new_verification_code()).status_code == 404
    refused = api(code)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    refused_page = page(code)
    assert refused_page.status_code == 429
    assert "Too many checks" in refused_page.content.decode()
    assert "The receipt is genuine" not in refused_page.content.decode()
    # A made-up X-Forwarded-For header does not make another address ...
    spoofed = Client().get(
        f"/api/v1/receipts/verify/{code}", HTTP_X_FORWARDED_FOR="203.0.113.9", **EN
    )
    assert spoofed.status_code == 429
    # ... but another address is not held back.
    assert (
        Client(REMOTE_ADDR="10.0.0.7").get(f"/api/v1/receipts/verify/{code}", **EN).status_code
        == 200
    )


def test_p5_a_bearer_token_is_not_needed_nor_checked(receipt):
    response = Client().get(
        f"/api/v1/receipts/verify/{receipt.verification_code}",
        HTTP_AUTHORIZATION="Bearer not-a-token",
        **EN,
    )
    assert response.status_code == 200


def test_p5_a7_a_carrier_from_abroad_is_named_by_its_country_and_masked_tax_number(
    world, eager, commit
):
    """A receipt of a carrier from abroad names no IIN/BIN: the verification shows its country
    and tax number, all but the last 4 characters hidden, under the right label."""
    from carriers.models import Carrier

    world.top_up("1000000.00")
    book(world)
    Carrier.objects.filter(pk=world.carrier.pk).update(
        kind="foreign", iin_bin="", country="RU", tax_number="7707083893"
    )
    transfer(commit)
    receipt = Receipt.objects.get()
    assert receipt.payer_iin_bin == ""
    assert api(receipt.verification_code).json()["payer_iin_bin"] == "RU ******3893"
    html = page(receipt.verification_code).content.decode()
    assert "<dt>Tax number</dt><dd>RU ******3893</dd>" in html
    assert "7707083893" not in html
