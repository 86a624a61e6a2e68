"""Overlapping budget transfer runs (P4) on PostgreSQL with real threads: every payment lands in
exactly one batch, and the control shows what the lock prevents."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from carriers.models import Carrier
from deposits import services as ledger
from deposits.models import Transfer
from deposits.selectors import ledger_check
from fees import services
from fees.models import BudgetBatch, BudgetBatchLine

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAYMENTS = 200
RUNS = 6


@pytest.fixture
def payments():
    services.reference_fees_load()
    carrier = Carrier.objects.create(kind="company", iin_bin="230140012340", name="Steppe LLP")
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=Decimal("100000000"), bank_reference="B")
    return [
        ledger.fee_charge(carrier=carrier, amount=Decimal("4325"), reference=("booking", str(n)))
        for n in range(PAYMENTS)
    ]


def _parallel_runs() -> list:
    barrier = threading.Barrier(RUNS)
    outcomes = []
    lock = threading.Lock()

    def run():
        barrier.wait()
        try:
            result = services.budget_transfer_make()
        except Exception as exc:  # shown in the outcomes, not lost with the thread
            result = exc
        with lock:
            outcomes.append(result)
        connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_p4_parallel_runs_put_each_payment_in_exactly_one_batch(payments):
    outcomes = _parallel_runs()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    lines = BudgetBatchLine.objects.all()
    assert lines.count() == PAYMENTS
    assert set(lines.values_list("payment_id", flat=True)) == {p.pk for p in payments}
    assert services.budget_transfer_make() == []
    report = ledger_check()
    assert report.ok, report.problems


def test_p4_parallel_runs_number_their_batches_one_after_another(payments, monkeypatch):
    """Runs that split the payments between them each make a batch: the numbers of a day's
    batches of one kind run 1, 2, 3 … with no run failing on a number taken by another. The pause
    before the money moves keeps every run's transaction open past the others' numbering, which
    without the account's row lock gives two runs the same number (and ledger key)."""
    move = ledger.transfer_post

    def slow_move(*args, **kwargs):
        time.sleep(0.3)
        return move(*args, **kwargs)

    monkeypatch.setattr(ledger, "transfer_post", slow_move)
    outcomes = _parallel_runs()
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    for kind in BudgetBatch.objects.values_list("kind", flat=True).distinct():
        sequences = sorted(BudgetBatch.objects.filter(kind=kind).values_list("sequence", flat=True))
        assert sequences == list(range(1, len(sequences) + 1))


def test_p4_control_without_skip_locked_runs_collide(payments, monkeypatch):
    """Without the row locks, overlapping runs pick the same payments: the one-to-one on the
    batch line refuses the duplicates (so the money still moves once), and the losing runs fail
    instead of doing their share."""
    from fees import locks

    monkeypatch.setattr(
        locks, "payments_unless_taken", lambda payments, limit: list(payments[:limit])
    )
    outcomes = _parallel_runs()
    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert failures, outcomes
    assert BudgetBatchLine.objects.count() == PAYMENTS
    assert ledger_check().ok


def _refund_during_a_transfer(fee, monkeypatch) -> None:
    """A refund of `fee` (a closure's, C3) paused after its check, while a budget transfer runs
    in full; then the refund goes on."""
    checked, go_on = threading.Event(), threading.Event()
    refund_to_balance = ledger.fee_refund_to_balance

    def paused(**kwargs):
        checked.set()
        go_on.wait(10)
        return refund_to_balance(**kwargs)

    monkeypatch.setattr(ledger, "fee_refund_to_balance", paused)
    failures = []

    def refund():
        try:
            services.fee_refund(fee=fee, reason="the checkpoint closed")
        except Exception as exc:  # shown by the test, not lost with the thread
            failures.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=refund)
    thread.start()
    assert checked.wait(10)
    services.budget_transfer_make()
    go_on.set()
    thread.join()
    assert not failures, failures


def _refunded(fee) -> bool:
    return Transfer.objects.filter(idempotency_key=f"fee_refund:{fee.pk}").exists()


def test_p4_a_fee_refunded_while_a_transfer_runs_is_refunded_or_transferred_never_both(
    payments, monkeypatch
):
    fee = payments[0]
    _refund_during_a_transfer(fee, monkeypatch)
    transferred = set(BudgetBatchLine.objects.values_list("payment_id", flat=True))
    assert fee.pk not in transferred and _refunded(fee)
    assert transferred == {p.pk for p in payments[1:]}
    report = ledger_check()
    assert report.ok, report.problems


def test_p4_control_without_the_refunds_lock_the_fee_is_refunded_and_sent_to_the_budget(
    payments, monkeypatch
):
    """The race the lock guards against: the transfer does not see the uncommitted refund and
    takes the fee too, so the carrier gets it back and the budget gets it as well."""
    from fees import locks

    monkeypatch.setattr(locks, "fee_payment", lambda pk: Transfer.objects.get(pk=pk))
    fee = payments[0]
    _refund_during_a_transfer(fee, monkeypatch)
    transferred = set(BudgetBatchLine.objects.values_list("payment_id", flat=True))
    assert fee.pk in transferred and _refunded(fee)
