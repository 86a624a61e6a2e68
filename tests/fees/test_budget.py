"""Transfers to the state budget (P4) and refunds after them."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from carriers.models import Carrier
from core.clock import ALMATY
from core.errors import ApplicationError
from deposits import services as ledger
from deposits.models import PaymentAwaitingBudget
from deposits.selectors import balances_of, ledger_check, system_balance
from fees.models import BudgetBatch, BudgetBatchLine, BudgetRefundClaim
from fees.services import (
    budget_refund_settle,
    budget_transfer_make,
    fee_refund,
    overdue_payments,
    payment_deadline,
    reference_fees_load,
)

pytestmark = pytest.mark.django_db


def local(year, month, day, hour=12):
    return dt.datetime(year, month, day, hour, tzinfo=ALMATY)


@pytest.fixture
def carrier():
    reference_fees_load()
    carrier = Carrier.objects.create(kind="company", iin_bin="230140012340", name="Steppe LLP")
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=Decimal("10000000"), bank_reference="B")
    return carrier


def pay(carrier, n, amount="4325.00", kind="fee"):
    return ledger.fee_charge(
        carrier=carrier, amount=Decimal(amount), reference=("booking", str(n)), kind=kind
    )


@pytest.mark.parametrize(
    "paid, deadline",
    [
        (local(2026, 3, 18), dt.date(2026, 3, 26)),  # Wed; Fri 20, then Nauryz 21–25
        (local(2026, 3, 20), dt.date(2026, 3, 30)),  # Fri before Nauryz
        (local(2026, 3, 27), dt.date(2026, 4, 1)),  # Fri: Mon, Tue, Wed
        (local(2025, 12, 30), dt.date(2026, 1, 6)),  # New Year: 31 Dec, 5 Jan, 6 Jan
        (local(2026, 3, 21, 23), dt.date(2026, 3, 30)),  # a Saturday night in Almaty
    ],
)
def test_p4_the_deadline_is_3_working_days_after_payment(paid, deadline):
    assert payment_deadline(paid) == deadline


def test_p4_payments_go_to_the_budget_once_in_one_batch_per_code(carrier):
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        fees = [pay(carrier, n) for n in range(3)]
        rebooking = pay(carrier, 9, amount="432500.00", kind="rebooking_fee")
        hold = ledger.deposit_hold(carrier=carrier, amount=Decimal("86500"), reference=("b", "1"))
        ledger.hold_forfeit(hold=hold)
    with time_machine.travel(local(2026, 3, 18, 18), tick=False):
        batches = budget_transfer_make()
        assert budget_transfer_make() == []
    by_kind = {batch.kind: batch for batch in batches}
    assert by_kind["fees"].total == Decimal("4325.00") * 3 + Decimal("432500.00")
    assert by_kind["fees"].line_count == 4
    assert by_kind["forfeits"].total == Decimal("86500.00")
    assert {line.payment_id for line in by_kind["fees"].lines.all()} == {
        *(fee.pk for fee in fees),
        rebooking.pk,
    }
    assert system_balance("fees_payable") == 0 and system_balance("forfeits_payable") == 0
    assert system_balance("budget") == by_kind["fees"].total + by_kind["forfeits"].total
    assert by_kind["fees"].payment_order_number == "PO-20260318-FEES-1"
    assert ledger_check().ok


def test_p4_a_later_run_the_same_day_makes_a_second_batch(carrier):
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        pay(carrier, 1)
        budget_transfer_make()
        pay(carrier, 2)
        (second,) = budget_transfer_make()
    assert second.sequence == 2 and second.line_count == 1


def test_p4_late_payments_are_reported(carrier):
    with time_machine.travel(local(2026, 3, 20, 9), tick=False):
        pay(carrier, 1)
    with time_machine.travel(local(2026, 3, 30, 12), tick=False):
        assert overdue_payments() == []
    with time_machine.travel(local(2026, 3, 31, 12), tick=False):
        (late,) = overdue_payments()
        assert late[1] == dt.date(2026, 3, 30)
        budget_transfer_make()
        assert overdue_payments() == []


def test_c3_p4_a_fee_refunded_before_the_transfer_never_goes_to_the_budget(carrier):
    fee = pay(carrier, 1)
    fee_refund(fee=fee, reason="closure")
    assert budget_transfer_make() == []
    assert not BudgetBatchLine.objects.exists()


def test_c3_p4_a_fee_refunded_after_the_transfer_is_a_claim_settled_by_an_operator(
    carrier, django_user_model
):
    operator = django_user_model.objects.create_user("op@kezek.kz", "x", full_name="Operator")
    fee = pay(carrier, 1)
    budget_transfer_make()
    before = balances_of(carrier).available
    claim = fee_refund(fee=fee, reason="checkpoint closed")
    assert isinstance(claim, BudgetRefundClaim) and claim.status == "pending"
    assert balances_of(carrier).available == before  # not yet: the budget pays it back first
    assert fee_refund(fee=fee, reason="again").pk == claim.pk
    budget_refund_settle(claim=claim, actor=operator)
    assert balances_of(carrier).available == before + fee.amount
    with pytest.raises(ApplicationError):
        budget_refund_settle(claim=claim, actor=operator)
    assert ledger_check().ok


def test_p4_transfer_to_budget_command(carrier, capsys):
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        pay(carrier, 1)
        call_command("transfer_to_budget")
    assert "PO-20260318-FEES-1: 1 payments, 4325.00 KZT" in capsys.readouterr().out
    assert BudgetBatch.objects.count() == 1


def test_p4_a_run_reads_the_calendar_once_per_day_paid_not_once_per_payment(carrier):
    """At national size a day's run made 2 318 queries, one calendar read per payment: the
    queries of a run and of the overdue check no longer grow with the payments of a day."""
    with time_machine.travel(local(2026, 3, 16, 9), tick=False):
        for n in range(40):
            pay(carrier, n)
    with time_machine.travel(local(2026, 3, 17, 9), tick=False):
        for n in range(40, 80):
            pay(carrier, n)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(local(2026, 3, 30, 18), tick=False):
        with CaptureQueriesContext(connection) as overdue_reads:
            assert len(overdue_payments()) == 80
        calendar_reads = [q for q in overdue_reads if "core_calendarday" in q["sql"]]
        assert len(calendar_reads) <= 2  # one per day paid
        with CaptureQueriesContext(connection) as run_reads:
            batches = budget_transfer_make()
        assert [batch.line_count for batch in batches] == [80]
        calendar_reads = [q for q in run_reads if "core_calendarday" in q["sql"]]
        assert len(calendar_reads) <= 2


# --- The budget's work list: a day's payments, whatever the history (P4) ---------------------


def awaiting():
    return set(PaymentAwaitingBudget.objects.values_list("transfer_id", flat=True))


def test_p4_a_payment_waits_for_the_budget_from_its_charge_until_a_batch_takes_it(carrier):
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        fee = pay(carrier, 1)
        rebooking = pay(carrier, 2, amount="432500.00", kind="rebooking_fee")
        hold = ledger.deposit_hold(carrier=carrier, amount=Decimal("86500"), reference=("b", "1"))
        forfeit = ledger.hold_forfeit(hold=hold).transfer
        released = ledger.deposit_hold(carrier=carrier, amount=Decimal("5"), reference=("b", "2"))
        ledger.hold_release(hold=released)
    assert awaiting() == {fee.pk, rebooking.pk, forfeit.pk}
    with time_machine.travel(local(2026, 3, 18, 18), tick=False):
        budget_transfer_make()
    assert awaiting() == set()
    assert BudgetBatchLine.objects.count() == 3


def test_p4_a_fee_refunded_before_its_transfer_leaves_the_work_list(carrier):
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        refunded, kept = pay(carrier, 1), pay(carrier, 2)
        fee_refund(fee=refunded, reason="closure")
        assert awaiting() == {kept.pk}
        (batch,) = budget_transfer_make()
    assert [line.payment_id for line in batch.lines.all()] == [kept.pk]


def test_p4_the_budget_run_reads_the_work_list_not_the_history(carrier):
    """Years of transferred payments do not enter the search: the run starts from the work
    list and reads each waiting payment by its key, with no look at the batches' lines."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        for n in range(30):
            pay(carrier, n)
        budget_transfer_make()
        waiting = pay(carrier, 100)
    with (
        time_machine.travel(local(2026, 3, 19, 18), tick=False),
        CaptureQueriesContext(connection) as queries,
    ):
        overdue_payments()
        (batch,) = budget_transfer_make()
    assert [line.payment_id for line in batch.lines.all()] == [waiting.pk]
    searches = [q["sql"] for q in queries.captured_queries if "deposits_transfer" in q["sql"]]
    finds = [sql for sql in searches if "paymentawaitingbudget" in sql.lower()]
    assert finds and all("INNER JOIN" in sql for sql in finds), finds
    assert not any("fees_budgetbatchline" in sql for sql in finds), finds


def test_p4_payments_waiting_before_the_work_list_existed_are_listed_by_its_migration(carrier):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("deposits.migrations.0003_payment_awaiting_budget")
    with time_machine.travel(local(2026, 3, 18, 9), tick=False):
        pay(carrier, 1)
        budget_transfer_make()
        refunded, waiting = pay(carrier, 2), pay(carrier, 3)
        fee_refund(fee=refunded, reason="closure")
        hold = ledger.deposit_hold(carrier=carrier, amount=Decimal("86500"), reference=("b", "1"))
        forfeit = ledger.hold_forfeit(hold=hold).transfer
    PaymentAwaitingBudget.objects.all().delete()

    migration.payments_awaiting_budget_listed(apps, None)

    assert awaiting() == {waiting.pk, forfeit.pk}
