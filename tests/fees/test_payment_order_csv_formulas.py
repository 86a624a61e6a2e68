"""The payment order file (P4) is opened in a spreadsheet by the registrar's accountants: a carrier
name, a recipient or a payment purpose a spreadsheet would run as a formula comes out as text, with
a single quote in front; amounts and the other cells are as they were (core.csv_safe)."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from auth2fa.roles import OPERATORS
from carriers.models import Carrier
from fees.models import BudgetAccount
from tests.factories import StaffFactory
from tests.receipts.helpers import book, new_truck, transfer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "@SUM(A1)", "-2+3", "\tcmd", "\rcmd"]


@pytest.fixture
def operator(sign_in_browser):
    return sign_in_browser(Client(), StaffFactory(email="op@registrar.kz", roles=[OPERATORS]))


def payment_order(operator, batch) -> list[dict]:
    response = operator.get(reverse("admin:fees_budgetbatch_payment_order", args=[batch.pk]), **EN)
    assert response.status_code == 200
    text = response.content.decode("utf-8").removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_in_the_payment_order(
    world, operator, eager, commit
):
    world.top_up("10000000.00")
    account = BudgetAccount.objects.get(kind=BudgetAccount.Kind.FEES)
    carrier = Carrier.objects.filter(pk=world.carrier.pk)

    # A normal name, recipient and purpose come out as they are.
    carrier.update(name="ТОО «Керуен-Транс» - East")
    book(world)
    (batch,) = transfer(commit)
    order, line = payment_order(operator, batch)
    assert line["carrier_name"] == "ТОО «Керуен-Транс» - East"
    assert order["recipient_name"] == line["recipient_name"] == account.recipient_name
    assert order["purpose"] == line["purpose"] == account.purpose
    assert order["amount"] == line["amount"] == "4325.00"
    assert line["paid_at"] == "2026-03-20T10:00:00+05:00"

    # Typed by a carrier (its name) or an operator (the budget account): text, never a formula.
    cells = {}
    for formula in FORMULAS:
        BudgetAccount.objects.filter(pk=account.pk).update(recipient_name=formula, purpose=formula)
        carrier.update(name=formula)
        book(world, vehicle=new_truck(world))
        (batch,) = transfer(commit)
        order, line = payment_order(operator, batch)
        cells[formula] = {
            "carrier_name": line["carrier_name"],
            "recipient_name": (order["recipient_name"], line["recipient_name"]),
            "purpose": (order["purpose"], line["purpose"]),
        }
        assert order["amount"] == line["amount"] == "4325.00"
        assert line["carrier_iin_bin"] == "230140012340"
        assert order["order_number"] == batch.payment_order_number
    assert cells == {
        formula: {
            "carrier_name": "'" + formula,
            "recipient_name": ("'" + formula, "'" + formula),
            "purpose": ("'" + formula, "'" + formula),
        }
        for formula in FORMULAS
    }


def test_a7_a_carrier_from_abroad_is_named_by_its_country_and_tax_number_in_the_order(
    world, operator, eager, commit
):
    world.top_up("10000000.00")
    book(world)
    Carrier.objects.filter(pk=world.carrier.pk).update(
        kind="foreign", iin_bin="", country="RU", tax_number="7707083893"
    )
    (batch,) = transfer(commit)
    _order, line = payment_order(operator, batch)
    assert line["carrier_iin_bin"] == "RU 7707083893"
