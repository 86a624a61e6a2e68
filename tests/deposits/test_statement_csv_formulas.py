"""The carrier's statement file (P2) is opened in a spreadsheet: a description a spreadsheet would
run as a formula (a payer's text from the bank, say) comes out as text, with a single quote in
front; amounts, negative ones too, stay numbers (core.csv_safe)."""

import csv
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from carriers.models import Member
from deposits import services
from tests.auth2fa.factories import registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\tcmd", "\rcmd"]


@pytest.fixture
def owner(fake_twilio):
    return registered_person(fake_twilio)


@pytest.fixture
def carrier(owner):
    return Member.objects.get(user=owner).carrier


def bank_statement(carrier, payer_name: str) -> bytes:
    """A CSV statement of the registrar's account with one payment to the carrier's account."""
    out = io.StringIO()
    out.write(f"# account: {settings.REGISTRAR_IBAN}\n")
    writer = csv.writer(out)
    writer.writerow(["amount", "remittance", "reference", "booked_at", "payer_name"])
    writer.writerow(["700", carrier.personal_account.number, "KZB1", "2024-05-04", payer_name])
    return out.getvalue().encode()


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_in_the_carrier_statement(
    carrier, owner, sign_in_browser
):
    # Each description with its own amount, to find its line in the file.
    for n, formula in enumerate(FORMULAS):
        services.account_top_up(
            carrier=carrier, amount=Decimal(100 + n), bank_reference=f"B{n}", description=formula
        )
    services.account_top_up(
        carrier=carrier, amount=Decimal("10000"), bank_reference="PLAIN", description="Steppe LLP"
    )
    services.fee_charge(carrier=carrier, amount=Decimal("4325"), reference=("booking", "9"))
    # The payer's name as the bank's statement gives it, imported.
    statement = bank_statement(carrier, payer_name='=HYPERLINK("http://x","y")')
    assert services.bank_statement_import(data=statement, filename="day.csv").credited == 1

    browser = sign_in_browser(Client(), owner)
    export = browser.get("/cabinet/account/", {"format": "csv"}, **EN)
    assert export["Content-Type"].startswith("text/csv")
    header, *rows = csv.reader(io.StringIO(export.content.decode("utf-8-sig"), newline=""))
    assert header == ["Time", "Kind", "Amount", "Booking", "Description"]
    descriptions = {amount: description for _time, _kind, amount, _booking, description in rows}
    payer_text = '\'=HYPERLINK("http://x","y") — ' + carrier.personal_account.number
    assert descriptions == {
        **{f"{100 + n}.00": "'" + formula for n, formula in enumerate(FORMULAS)},
        "10000.00": "Steppe LLP",
        "-4325.00": "",
        "700.00": payer_text,
    }
