"""P1 under real concurrency (PostgreSQL, real threads): the same statement imported several times
at once credits every payment exactly once, and a parked payment assigned by two operators at
once is credited once. The unique bank reference of a statement line is the gate: a second
insert waits for the first transaction and then fails, so its import counts the line as already
imported and moves nothing."""

import threading
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from carriers.models import Carrier
from core.errors import ApplicationError
from deposits import services
from deposits.models import StatementEntry, StatementImport, Transfer
from deposits.selectors import balances_of, ledger_check

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CARRIERS = 8
PAYMENTS_PER_CARRIER = 6
PARKED = 10
IMPORTS = 4


def in_parallel(count: int, work) -> list:
    """Run work(n) in `count` threads started together; their results (or refusals) in order."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(n: int) -> None:
        try:
            barrier.wait()
            outcomes[n] = work(n)
        except ApplicationError as refusal:
            outcomes[n] = refusal.code
        except Exception as exc:  # a crash must show in the outcomes
            outcomes[n] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.fixture
def carriers():
    made = []
    for n in range(CARRIERS):
        carrier = Carrier.objects.create(
            kind="company", iin_bin=f"2301400{n:05d}", name=f"Carrier {n}"
        )
        services.personal_account_open(carrier=carrier)
        made.append(carrier)
    return made


def statement(carriers) -> bytes:
    """A CSV statement: payments for every carrier, interleaved, and some with no number."""
    rows = ["# account: KZ86125KZT5004100100", "reference;booked_at;amount;remittance"]
    for payment in range(PAYMENTS_PER_CARRIER):
        for carrier in carriers:
            number = carrier.personal_account.number
            rows.append(
                f"REF-{carrier.pk}-{payment};2024-05-01;{1000 + payment}.00;Top-up {number}"
            )
    for n in range(PARKED):
        rows.append(f"PARK-{n};2024-05-01;500.00;Invoice {n}")
    return ("\n".join(rows) + "\n").encode()


def test_p1_parallel_imports_of_the_same_statement_credit_every_line_exactly_once(carriers):
    data = statement(carriers)
    lines = CARRIERS * PAYMENTS_PER_CARRIER + PARKED

    outcomes = in_parallel(
        IMPORTS,
        lambda n: services.bank_statement_import(data=data, filename=f"day-{n}.csv").pk,
    )

    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    imports = list(StatementImport.objects.all())
    assert len(imports) == IMPORTS
    assert sum(i.credited for i in imports) == CARRIERS * PAYMENTS_PER_CARRIER
    assert sum(i.parked for i in imports) == PARKED
    assert sum(i.already_imported for i in imports) == lines * (IMPORTS - 1)
    assert all(i.finished_at is not None for i in imports)
    assert StatementEntry.objects.count() == lines
    assert Transfer.objects.filter(kind="top_up").count() == CARRIERS * PAYMENTS_PER_CARRIER
    expected = sum(Decimal(1000 + payment) for payment in range(PAYMENTS_PER_CARRIER))
    for carrier in carriers:
        assert balances_of(carrier).available == expected
    report = ledger_check()
    assert report.ok, report.problems
    assert report.total == 0


def test_p1_a_parked_line_assigned_by_two_operators_at_once_is_credited_once(carriers):
    services.bank_statement_import(data=statement(carriers), filename="day.csv")
    entry = StatementEntry.objects.get(bank_reference="PARK-0")
    operators = [
        get_user_model().objects.create_user(f"op{n}@registrar.kz", "x", full_name=f"Op {n}")
        for n in range(2)
    ]
    targets = carriers[:2]
    before = [balances_of(carrier).available for carrier in targets]

    outcomes = in_parallel(
        2,
        lambda n: (
            services.parked_entry_assign(entry=entry, carrier=targets[n], actor=operators[n]).status
        ),
    )

    assert sorted(outcomes) == ["assigned", "not_changeable"], outcomes
    entry.refresh_from_db()
    winner = targets.index(entry.carrier)
    after = [balances_of(carrier).available for carrier in targets]
    assert after[winner] == before[winner] + Decimal("500.00")
    assert after[1 - winner] == before[1 - winner]
    report = ledger_check()
    assert report.ok, report.problems
