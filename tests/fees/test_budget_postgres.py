"""Overlapping budget transfer runs (P4) on PostgreSQL with real threads: every payment lands in
exactly one batch, and the control shows what the lock prevents."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections

from carriers.models import Carrier
from deposits import services as ledger
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
