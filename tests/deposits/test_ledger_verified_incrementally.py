"""The ledger verified from where the last consistent check reached (P6).

`verify_ledger` records each account's balance through a watermark (`AccountVerified`); the
next (nightly) run reads only the transfers after that point and the accounts they touched, so
it costs a day's transfers, not the years of history. `--full` (and the first run) recompute
every balance from the first transfer, as before.
"""

import io
import re
import threading
import time
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.models import Max
from django.test.utils import CaptureQueriesContext

from carriers.models import Carrier
from core.models import AuditEvent
from deposits import locks, selectors, services, tasks
from deposits.models import (
    Account,
    AccountVerified,
    Hold,
    HoldResolution,
    PaymentAwaitingBudget,
    Transfer,
)
from deposits.selectors import VERIFIED_ACTION, ledger_check, system_balance, verified_point
from deposits.services import ledger_verify
from fees.services import budget_transfer_make, reference_fees_load

pytestmark = pytest.mark.django_db

D = Decimal


def new_carrier(iin_bin: str, money: str = "1000000.00") -> Carrier:
    carrier = Carrier.objects.create(kind="company", iin_bin=iin_bin, name=f"Carrier {iin_bin}")
    services.personal_account_open(carrier=carrier)
    services.account_top_up(carrier=carrier, amount=D(money), bank_reference=f"B-{iin_bin}")
    return carrier


@pytest.fixture
def carrier() -> Carrier:
    reference_fees_load()
    return new_carrier("230140012340")


@pytest.fixture
def other() -> Carrier:
    return new_carrier("230140012341")


def activity(carrier: Carrier, tag: str, n: int = 1) -> None:
    """`n` rounds of the ledger's everyday moves: a fee, a deposit held then released, a
    deposit held then forfeited."""
    for i in range(n):
        ref = f"{tag}-{i}"
        services.fee_charge(carrier=carrier, amount=D("4325.00"), reference=("booking", ref))
        released = services.deposit_hold(carrier=carrier, amount=D("100"), reference=("r", ref))
        services.hold_release(hold=released)
        forfeited = services.deposit_hold(carrier=carrier, amount=D("7"), reference=("f", ref))
        services.hold_forfeit(hold=forfeited)


def available(carrier: Carrier) -> Account:
    return Account.objects.get(carrier=carrier, kind="available")


def verifications() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=VERIFIED_ACTION).order_by("id"))


def test_p6_the_first_run_checks_everything_and_records_every_account(carrier, other):
    activity(carrier, "a", 2)
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.full and report.since_transfer == 0
    newest = Transfer.objects.aggregate(m=Max("pk"))["m"]
    assert report.through_transfer == newest == verified_point()
    assert report.transfers == Transfer.objects.count()
    rows = {row.account_id: row for row in AccountVerified.objects.select_related("account")}
    assert set(rows) == set(Account.objects.values_list("pk", flat=True))
    for row in rows.values():
        assert row.through_transfer == newest
        if row.account.is_carrier_account:
            assert row.balance == row.account.balance
        else:  # derived only: the row keeps 0, the verified balance is the transfers' sum
            assert row.account.balance == 0
            assert row.balance == system_balance(row.account.kind)
    (event,) = verifications()
    assert event.after == {
        "through_transfer": newest,
        "since_transfer": 0,
        "transfers": report.transfers,
        "accounts": len(rows),
        "full": True,
    }


def test_p6_a_later_run_adds_the_new_transfers_to_the_verified_balances(carrier, other):
    activity(carrier, "a")
    first = ledger_verify()
    activity(other, "b")
    second = ledger_verify()
    assert second.ok, second.problems
    assert not second.full and second.since_transfer == first.through_transfer
    assert second.transfers == Transfer.objects.filter(pk__gt=first.through_transfer).count()
    newest = Transfer.objects.aggregate(m=Max("pk"))["m"]
    assert second.through_transfer == verified_point() == newest
    # Every verified balance is still what all the transfers up to the point give.
    for row in AccountVerified.objects.select_related("account"):
        expected = (
            row.account.balance
            if row.account.is_carrier_account
            else system_balance(row.account.kind)
        )
        assert row.balance == expected, row
    # Only the accounts touched since were written: the first carrier's are as they were.
    untouched = AccountVerified.objects.filter(account__carrier=carrier)
    assert set(untouched.values_list("through_transfer", flat=True)) == {first.through_transfer}
    assert verifications()[-1].after["full"] is False
    # Nothing new: nothing to read, the point stays.
    third = ledger_verify()
    assert third.ok and third.transfers == 0 and third.through_transfer == newest


def test_p6_an_incremental_run_reads_only_the_transfers_after_the_point(carrier, other):
    """Its queries select transfers by id > the point, and their number does not grow with
    the history behind the point."""

    def incremental_queries() -> list[str]:
        point = ledger_verify().through_transfer
        activity(other, f"new-{point}")
        with CaptureQueriesContext(connection) as queries:
            report = ledger_verify()
        assert report.ok and not report.full and report.since_transfer == point
        sums = [
            q["sql"]
            for q in queries
            if 'FROM "deposits_transfer"' in q["sql"] and "GROUP BY" in q["sql"]
        ]
        lower_bounds = [re.findall(r'"deposits_transfer"\."id" > (\d+)', sql) for sql in sums]
        assert sums and all(found and int(found[0]) >= point for found in lower_bounds), sums
        return [q["sql"] for q in queries]

    activity(carrier, "old", 2)
    short_history = incremental_queries()
    activity(carrier, "older", 40)  # 200 more transfers behind the point
    long_history = incremental_queries()
    assert len(long_history) == len(short_history)


def test_p6_a_drift_after_the_point_is_found_by_the_incremental_run(carrier):
    ledger_verify()
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATER")
    Account.objects.filter(pk=available(carrier).pk).update(balance=D("1.00"))
    report = ledger_verify()
    assert not report.full
    assert any(f"account #{available(carrier).pk}" in problem for problem in report.problems)


def test_p6_a_drift_in_an_account_untouched_since_the_point_is_found_only_by_full(carrier, other):
    """The trade-off: the incremental run trusts what was verified and reads only the accounts
    that transfers touched since, so a balance changed behind the ledger's back in an account
    nothing has touched since stays unseen until `--full` (or the account's next transfer)."""
    ledger_verify()
    Account.objects.filter(pk=available(carrier).pk).update(balance=D("1.00"))
    activity(other, "b")  # the night's work touches other accounts only
    assert ledger_verify().ok
    assert not ledger_check().ok  # the whole ledger, as ledger_check() always read it
    full = ledger_verify(full=True)
    assert full.full and not full.ok
    assert any(f"account #{available(carrier).pk}" in problem for problem in full.problems)
    # The drifted account's next transfer shows it to the incremental run too.
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATER")
    assert not ledger_verify().ok


def test_p6_a_failing_check_records_no_new_point(carrier, other):
    point = ledger_verify().through_transfer
    rows = set(AccountVerified.objects.values_list("account_id", "through_transfer", "balance"))
    activity(other, "b")
    account = available(other)
    Account.objects.filter(pk=account.pk).update(balance=account.balance + D("1.00"))
    for full in (False, True):
        assert not ledger_verify(full=full).ok
        assert verified_point() == point
        assert (
            set(AccountVerified.objects.values_list("account_id", "through_transfer", "balance"))
            == rows
        )
        assert len(verifications()) == 1
    # Put right, the next run checks again from the same point.
    Account.objects.filter(pk=account.pk).update(balance=account.balance)
    report = ledger_verify()
    assert report.ok and report.since_transfer == point
    assert verified_point() > point


def test_p6_resolutions_and_holds_since_the_point_are_checked(carrier):
    ledger_verify()
    hold = services.deposit_hold(carrier=carrier, amount=D("100"), reference=("b", "1"))
    # A resolution naming a transfer that did not take the hold's money out of `held`.
    top_up = services.account_top_up(carrier=carrier, amount=D("3.00"), bank_reference="X")
    HoldResolution.objects.create(
        hold=hold, outcome="released", transfer=top_up, resolved_at=top_up.created_at
    )
    # An open hold with no money behind it in `held`.
    ghost = services.account_top_up(carrier=carrier, amount=D("4.00"), bank_reference="Y")
    Hold.objects.create(
        carrier=carrier, amount=D("50"), transfer=ghost, created_at=ghost.created_at
    )
    problems = ledger_verify().problems
    assert f"hold #{hold.pk} was resolved with a wrong transfer" in problems
    held = Account.objects.get(carrier=carrier, kind="held")
    assert any(problem.startswith(f"account #{held.pk} ") for problem in problems), problems


def test_p6_no_payment_on_the_budgets_work_list_was_transferred_or_refunded(carrier):
    fee = services.fee_charge(carrier=carrier, amount=D("4325.00"), reference=("booking", "1"))
    budget_transfer_make()
    refunded = services.fee_charge(carrier=carrier, amount=D("10.00"), reference=("booking", "2"))
    services.fee_refund_to_balance(transfer=refunded, reason="closure")
    assert ledger_verify().ok
    # Both back on the list, behind the ledger's back: found, incrementally as in full.
    PaymentAwaitingBudget.objects.create(transfer=fee)
    PaymentAwaitingBudget.objects.create(transfer=refunded)
    expected = [
        f"payment #{fee.pk} waits for the budget but is in a budget transfer",
        f"payment #{refunded.pk} waits for the budget but was refunded",
    ]
    assert ledger_verify().problems == expected
    assert ledger_verify(full=True).problems == expected
    assert ledger_check().problems == expected


def test_p6_verify_ledger_command_says_what_it_checked(carrier, other):
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    point = verified_point()
    accounts = Account.objects.count()
    transfers = Transfer.objects.count()
    assert out.getvalue().splitlines() == [
        f"checked {accounts} accounts and {transfers} transfers (full); balances add up to 0.00",
        f"ledger consistent; verified through transfer #{point}",
    ]
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATER")
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    newest = Transfer.objects.aggregate(m=Max("pk"))["m"]
    assert out.getvalue().splitlines() == [
        f"checked 1 transfers since #{point} (incremental) and the 2 accounts they touched",
        f"ledger consistent; verified through transfer #{newest}",
    ]
    out = io.StringIO()
    call_command("verify_ledger", "--full", stdout=out)
    assert "(full)" in out.getvalue().splitlines()[0]


def test_p6_verify_ledger_command_exits_1_on_a_difference(carrier):
    call_command("verify_ledger", stdout=io.StringIO())
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATER")
    Account.objects.filter(pk=available(carrier).pk).update(balance=D("1.00"))
    for args in ((), ("--full",)):
        err = io.StringIO()
        with pytest.raises(CommandError, match="NOT consistent: 1 problem") as failure:
            call_command("verify_ledger", *args, stdout=io.StringIO(), stderr=err)
        assert failure.value.returncode == 1
        assert f"account #{available(carrier).pk}" in err.getvalue()


def test_p6_a_long_full_run_prints_its_progress(carrier, monkeypatch):
    activity(carrier, "a", 2)
    monkeypatch.setattr(selectors, "TRANSFER_CHUNK", 3)
    out = io.StringIO()
    call_command("verify_ledger", "--full", stdout=out)
    lines = out.getvalue().splitlines()
    progress = [line for line in lines if line.startswith("… transfers #")]
    assert len(progress) >= 3, lines
    assert progress[-1].endswith(f"{Transfer.objects.count()} summed")
    assert lines[-1].startswith("ledger consistent")


def test_p6_the_nightly_task_checks_since_the_last_point(carrier):
    assert tasks.verify_ledger() is True
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATER")
    assert tasks.verify_ledger() is True
    assert [event.after["full"] for event in verifications()] == [True, False]
    Account.objects.filter(pk=available(carrier).pk).update(balance=D("1.00"))
    services.account_top_up(carrier=carrier, amount=D("5.00"), bank_reference="LATEST")
    assert tasks.verify_ledger() is False


@pytest.mark.postgres
def test_p6_a_system_accounts_verified_balance_outgrows_one_transfers_digits():
    """The registrar's bank account is debited by every top-up of every year: its derived
    balance passed the 14 digits of a transfer on a national-size copy, and recording it failed
    (numeric field overflow), so the check that found the ledger consistent could not say so."""
    reference_fees_load()
    largest = "999999999999.99"  # the largest single transfer
    for number in ("230140012340", "230140012341", "230140012342"):
        new_carrier(number, money=largest)
    report = ledger_verify(full=True)
    assert report.ok, report.problems
    assert AccountVerified.objects.filter(balance=D(largest) * -3).exists()


# --- PostgreSQL: the watermark and the snapshot ---------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_p6_the_watermark_waits_for_a_transfer_not_yet_committed(carrier, other):
    """Transfer ids are drawn at INSERT, committed later: while a lower id is uncommitted a
    higher one may be committed already, and max(id) would put the point past a transfer that
    a check then never reads. The watermark waits for the writer to commit."""
    inserted, release = threading.Event(), threading.Event()
    written: dict[str, int] = {}

    def writer() -> None:
        try:
            from django.db import transaction

            with transaction.atomic():
                written["id"] = services.account_top_up(
                    carrier=carrier, amount=D("1.00"), bank_reference="SLOW"
                ).pk
                inserted.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    watermark: dict[str, float] = {}

    def reader() -> None:
        try:
            watermark["id"] = locks.transfer_watermark(pause=0.1)
            watermark["at"] = time.monotonic()
        finally:
            connections.close_all()

    slow = threading.Thread(target=writer)
    waiting = threading.Thread(target=reader)
    slow.start()
    try:
        assert inserted.wait(timeout=10)
        fast = services.account_top_up(carrier=other, amount=D("1.00"), bank_reference="FAST").pk
        assert fast > written["id"]
        # The race: the newest committed id is past a transfer still being written.
        assert Transfer.objects.aggregate(m=Max("pk"))["m"] == fast
        assert not Transfer.objects.filter(pk=written["id"]).exists()

        waiting.start()
        time.sleep(1.5)  # more than one attempt's wait: it tries again, still waiting
        assert waiting.is_alive() and "id" not in watermark
        committed_at = time.monotonic()
    finally:
        release.set()
        slow.join(timeout=10)
        if waiting.ident is not None:
            waiting.join(timeout=10)
    assert watermark["id"] == fast and watermark["at"] >= committed_at
    assert Transfer.objects.filter(pk=written["id"]).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_p6_the_check_reads_one_snapshot_while_money_moves(carrier, other, monkeypatch):
    """A transfer committed while the check runs (after its watermark) is in neither the sums
    nor the balances it reads (REPEATABLE READ), so it is no false difference; the next run
    reads it."""
    ledger_verify()
    services.account_top_up(carrier=carrier, amount=D("2.00"), bank_reference="BEFORE")
    real = selectors._check_touched_accounts

    def with_a_top_up_meanwhile(*args, **kwargs):
        def top_up() -> None:
            try:
                services.account_top_up(carrier=carrier, amount=D("3.00"), bank_reference="MID")
            finally:
                connections.close_all()

        thread = threading.Thread(target=top_up)
        thread.start()
        thread.join(timeout=10)
        return real(*args, **kwargs)

    monkeypatch.setattr(selectors, "_check_touched_accounts", with_a_top_up_meanwhile)
    report = ledger_verify()
    assert report.ok, report.problems
    assert report.transfers == 1
    monkeypatch.undo()
    later = ledger_verify()
    assert later.ok and later.transfers == 1 and later.since_transfer == report.through_transfer
