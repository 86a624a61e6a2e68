"""Sums of money are exact on every database (P6): SQLite adds decimals as binary floats, and
these 36 top-ups add up there to 81626.29000000005, which `verify_ledger` would call a
mismatch against the stored 81626.29."""

from decimal import Decimal

import pytest

from carriers.models import Carrier
from deposits import selectors, services

pytestmark = pytest.mark.django_db

AMOUNTS = [
    "3179.71",
    "320.6",
    "1180.64",
    "3912.9",
    "3030.68",
    "3196.45",
    "1439.21",
    "4326.37",
    "248.38",
    "2207.22",
    "588.25",
    "4749.69",
    "4592.38",
    "985.92",
    "622.58",
    "2758.47",
    "1046.73",
    "4890.34",
    "3974.4",
    "3456.36",
    "1374.21",
    "3042.3",
    "4336.27",
    "587",
    "3394.65",
    "3572.95",
    "240.71",
    "2223.1",
    "4060.88",
    "1870.18",
    "60.07",
    "883.57",
    "2533.74",
    "24.52",
    "1290.38",
    "1424.48",
]


def test_p6_ledger_sums_are_exact_where_the_database_adds_floats():
    carrier = Carrier.objects.create(kind="company", iin_bin="230140012340", name="Steppe LLP")
    services.personal_account_open(carrier=carrier)
    for n, amount in enumerate(AMOUNTS):
        services.account_top_up(carrier=carrier, amount=Decimal(amount), bank_reference=f"B{n}")

    report = selectors.ledger_check()

    assert report.ok, report.problems
    assert selectors.system_balance("bank_incoming") == -Decimal("81626.29")
