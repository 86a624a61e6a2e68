"""The balance row under real concurrency (PostgreSQL, real threads).

50 threads charge one account whose balance covers 20 charges: the conditional UPDATE
(`balance >= amount`) lets exactly 20 through. The control replaces it with the naive
read-then-write and shows the race it prevents: more charges succeed than the money covers.
"""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import F

from carriers.models import Carrier
from core.errors import ApplicationError
from deposits import services
from deposits.models import Account, Transfer
from deposits.selectors import balances_of, ledger_check

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FEE = Decimal("4325.00")
THREADS = 50


@pytest.fixture
def carrier():
    carrier = Carrier.objects.create(kind="company", iin_bin="230140012340", name="Steppe LLP")
    services.personal_account_open(carrier=carrier)
    services.account_top_up(carrier=carrier, amount=FEE * 20, bank_reference="COVER-20")
    return carrier


def _race(carrier) -> list[str]:
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def charge(n: int) -> None:
        try:
            barrier.wait()
            services.fee_charge(carrier=carrier, amount=FEE, reference=("race", str(n)))
            outcome = "charged"
        except ApplicationError as refusal:
            outcome = refusal.code
        except Exception as exc:  # a crash must show in the outcomes
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)
        connections.close_all()

    threads = [threading.Thread(target=charge, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_p2_fifty_parallel_charges_on_money_for_twenty_exactly_twenty_succeed(carrier):
    outcomes = _race(carrier)
    assert outcomes.count("charged") == 20, outcomes
    assert outcomes.count("insufficient_funds") == 30
    assert balances_of(carrier).available == Decimal("0.00")
    assert Transfer.objects.filter(kind="fee").count() == 20
    report = ledger_check()
    assert report.ok, report.problems


def test_p2_control_read_then_write_oversells_the_balance(carrier, monkeypatch):
    """Without the conditional update, concurrent charges read the same balance and each
    writes its own result: lost updates let more charges through than the money covers."""
    real_filter = Account.objects.filter

    def naive_apply(movement):
        account = Account.objects.get(pk=movement.debit.pk)
        if account.balance < movement.amount:
            raise services.InsufficientFunds(required=movement.amount, available=account.balance)
        time.sleep(0.01)  # the window between reading and writing
        real_filter(pk=account.pk).update(balance=account.balance - movement.amount)
        real_filter(pk=movement.credit.pk, carrier__isnull=False).update(
            balance=F("balance") + movement.amount
        )
        transfer = Transfer.objects.create(
            debit=movement.debit,
            credit=movement.credit,
            amount=movement.amount,
            kind=movement.kind,
            carrier=movement.carrier,
            idempotency_key=movement.idempotency_key,
            created_at=services.clock.now(),
        )
        return transfer, True

    monkeypatch.setattr(services, "_apply", naive_apply)
    outcomes = _race(carrier)
    assert outcomes.count("charged") > 20, outcomes
    assert not ledger_check().ok  # the balance no longer matches the transfers


def test_p6_the_database_refuses_to_edit_or_delete_ledger_entries(carrier):
    from django.db import DatabaseError, connection, transaction

    hold = services.deposit_hold(carrier=carrier, amount=FEE, reference=("booking", "1"))
    services.hold_release(hold=hold)
    statements = [
        f"{verb} {table}{tail}"
        for table in ("deposits_transfer", "deposits_hold", "deposits_holdresolution")
        for verb, tail in (("UPDATE", " SET id = id"), ("DELETE FROM", ""))
    ] + ["DELETE FROM deposits_account", "DELETE FROM deposits_personalaccount"]
    for statement in statements:
        with (
            pytest.raises(DatabaseError, match="pgtrigger"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert ledger_check().ok
