"""Transfers to the state budget in the admin (P4, P5): budget accounts kept by operators, batches
read with their payment order file, payments past their deadline shown as an alert, refund
claims on the budget settled, receipts read."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from auth2fa.roles import AUDITORS, OPERATORS
from core.clock import ALMATY
from core.models import AuditEvent
from deposits.models import Transfer
from deposits.selectors import balances_of
from fees.admin import PAYMENT_ORDER_COLUMNS
from fees.models import BudgetAccount, BudgetBatch, BudgetRefundClaim
from fees.services import budget_transfer_make, fee_refund
from receipts.models import Receipt
from tests.factories import StaffFactory
from tests.receipts.helpers import book, new_truck, transfer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
BATCHES = "admin:fees_budgetbatch_changelist"
CLAIMS = "admin:fees_budgetrefundclaim_changelist"


@pytest.fixture
def operator(django_user_model, sign_in_browser):
    return sign_in_browser(Client(), StaffFactory(email="op@registrar.kz", roles=[OPERATORS]))


@pytest.fixture
def auditor(django_user_model, sign_in_browser):
    return sign_in_browser(Client(), StaffFactory(email="audit@registrar.kz", roles=[AUDITORS]))


def read_csv(response) -> list[dict]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_a5_roles_for_budget_transfers_and_receipts():
    operators = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=OPERATORS).permissions.select_related("content_type")
    }
    assert {
        "fees.change_budgetaccount",
        "fees.view_budgetbatch",
        "fees.view_budgetbatchline",
        "fees.change_budgetrefundclaim",
        "receipts.view_receipt",
    } <= operators
    assert (
        not {
            "fees.change_budgetbatch",
            "fees.delete_budgetbatch",
            "receipts.change_receipt",
            "fees.delete_budgetaccount",
        }
        & operators
    )
    auditors = {p.codename for p in Group.objects.get(name=AUDITORS).permissions.all()}
    assert {"view_budgetbatch", "view_budgetrefundclaim", "view_receipt"} <= auditors
    assert "change_budgetrefundclaim" not in auditors


def test_p4_an_operator_keeps_the_budget_accounts(world, operator):
    account = BudgetAccount.objects.get(kind="fees")
    url = reverse("admin:fees_budgetaccount_change", args=[account.pk])
    form = operator.get(url, **EN).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    response = operator.post(url, {**data, "budget_code": "105430"}, **EN)
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.budget_code == "105430"
    assert AuditEvent.objects.filter(
        action="admin.changed", object_type="fees.budgetaccount"
    ).exists()


def test_p4_payments_past_their_deadline_are_an_alert_in_the_admin(
    world, clock, django_user_model, sign_in_browser
):
    person = StaffFactory(email="op@registrar.kz", roles=[OPERATORS])
    world.top_up("1000000.00")
    book(world)  # Friday 20 March 2026: due in the budget by Monday 30 March (Nauryz between)
    payment = Transfer.objects.get(kind="fee")
    clock.move_to(dt.datetime(2026, 3, 30, 12, tzinfo=ALMATY))
    operator = sign_in_browser(Client(), person)
    page = operator.get(reverse(BATCHES), **EN)
    assert page.status_code == 200
    assert "past" not in page.content.decode()

    clock.move_to(dt.datetime(2026, 3, 31, 12, tzinfo=ALMATY))
    operator = sign_in_browser(Client(), person)
    page = operator.get(reverse(BATCHES), **EN).content.decode()
    assert "1 payment is past its deadline for the transfer to the state budget" in page
    assert f"#{payment.pk} 4\u202f325.00 ₸ of 230140012340, due by 30.03.2026" in page

    (batch,) = budget_transfer_make()  # (its receipts task is not run here)
    page = operator.get(reverse(BATCHES), **EN)
    assert "past its deadline" not in page.content.decode()
    (row,) = page.context["cl"].result_list
    assert row == batch and row.late == 1  # transferred, but late: the batch shows it


def test_p4_the_payment_order_file(world, operator, auditor, eager, commit):
    world.top_up("10000000.00")
    first = book(world)
    second = book(world, vehicle=new_truck(world))
    (batch,) = transfer(commit)
    receipts = dict(Receipt.objects.values_list("payment_id", "number"))

    page = operator.get(reverse("admin:fees_budgetbatch_change", args=[batch.pk]), **EN)
    link = reverse("admin:fees_budgetbatch_payment_order", args=[batch.pk])
    assert link in page.content.decode()
    assert first.number in page.content.decode()  # the lines, inline

    response = operator.get(link, **EN)
    assert response.status_code == 200
    assert f'filename="{batch.payment_order_number}.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert list(rows[0].keys()) == PAYMENT_ORDER_COLUMNS
    order, *lines = rows
    assert order == {
        **order,
        "record": "order",
        "order_number": "PO-20260320-FEES-1",
        "order_date": "2026-03-20",
        "payer_iban": "KZ86125KZT5004100100",
        "recipient_bin": "990240001128",
        "recipient_iban": "KZ24070105KSN0000000",
        "kbk": "105429",
        "knp": "911",
        "amount": "8650.00",
        "payment_id": "",
    }
    assert [line["record"] for line in lines] == ["line", "line"]
    assert sum(Decimal(line["amount"]) for line in lines) == Decimal(order["amount"])
    assert {line["booking"] for line in lines} == {first.number, second.number}
    for line in lines:
        assert line["order_number"] == "PO-20260320-FEES-1" and line["kbk"] == "105429"
        assert line["receipt"] == receipts[int(line["payment_id"])]
        assert line["carrier_iin_bin"] == "230140012340"
        assert line["paid_at"] == "2026-03-20T10:00:00+05:00"
        assert line["deadline"] == "2026-03-30"

    # Auditors read it too; the action gives several batches in one file.
    assert auditor.get(link, **EN).status_code == 200
    world.top_up("100000.00", reference="MORE")
    book(world, vehicle=new_truck(world))
    transfer(commit)
    both = operator.post(
        reverse(BATCHES),
        {
            "action": "download_payment_orders",
            "_selected_action": list(BudgetBatch.objects.values_list("pk", flat=True)),
        },
        **EN,
    )
    assert [row["order_number"] for row in read_csv(both) if row["record"] == "order"] == [
        "PO-20260320-FEES-1",
        "PO-20260320-FEES-2",
    ]


def test_p4_a_claim_on_the_budget_is_settled_in_the_admin_and_the_carrier_sees_it(
    world, operator, auditor, sign_in_browser, eager, commit
):
    world.top_up("1000000.00")
    book(world)
    transfer(commit)
    fee = Transfer.objects.get(kind="fee")
    claim = fee_refund(fee=fee, reason="Checkpoint closed for works")
    owner = sign_in_browser(Client(), world.member.user)
    page = owner.get("/cabinet/account/", **EN).content.decode()
    assert "Fees returned from the state budget" in page
    assert "Pending: claimed back from the budget" in page
    assert "Checkpoint closed for works" in page
    available = balances_of(world.carrier).available

    # An auditor reads the claims but cannot settle them.
    assert 'value="settle"' not in auditor.get(reverse(CLAIMS), **EN).content.decode()
    auditor.post(reverse(CLAIMS), {"action": "settle", "_selected_action": [claim.pk]}, **EN)
    claim.refresh_from_db()
    assert claim.status == "pending"

    listed = operator.get(reverse(CLAIMS), **EN).content.decode()
    assert 'value="settle"' in listed
    done = operator.post(
        reverse(CLAIMS), {"action": "settle", "_selected_action": [claim.pk]}, follow=True, **EN
    )
    assert "1 claim settled" in done.content.decode()
    claim.refresh_from_db()
    assert claim.status == BudgetRefundClaim.Status.SETTLED and claim.settled_by is not None
    assert balances_of(world.carrier).available == available + fee.amount

    again = operator.post(
        reverse(CLAIMS), {"action": "settle", "_selected_action": [claim.pk]}, follow=True, **EN
    )
    assert "already settled" in again.content.decode()
    assert balances_of(world.carrier).available == available + fee.amount

    page = owner.get("/cabinet/account/", **EN).content.decode()
    assert "Credited to the available balance on 20.03.2026" in page
    assert "Pending: claimed back from the budget" not in page


def test_p5_operators_read_receipts_and_download_their_pdf(world, operator, eager, commit):
    world.top_up("1000000.00")
    book(world)
    transfer(commit)
    receipt = Receipt.objects.get()
    listed = operator.get(reverse("admin:receipts_receipt_changelist"), **EN)
    assert receipt.number in listed.content.decode()
    detail = operator.get(reverse("admin:receipts_receipt_change", args=[receipt.pk]), **EN)
    assert detail.status_code == 200
    pdf = operator.get(reverse("admin:receipts_receipt_pdf", args=[receipt.pk]), **EN)
    assert b"".join(pdf.streaming_content) == bytes(receipt.pdf)
