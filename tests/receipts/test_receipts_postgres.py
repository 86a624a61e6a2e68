"""Receipts are append-only (P5): PostgreSQL refuses to edit or delete them."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction

from carriers.models import Carrier
from deposits import services as ledger
from fees.services import budget_transfer_make
from receipts.models import Receipt
from receipts.services import receipts_issue_for_batch
from tests.fees.factories import fees_in_force_today

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_p5_a_receipt_cannot_be_edited_or_deleted():
    fees_in_force_today()
    carrier = Carrier.objects.create(kind="company", iin_bin="230140012340", name="Steppe LLP")
    ledger.personal_account_open(carrier=carrier)
    ledger.account_top_up(carrier=carrier, amount=Decimal("10000"), bank_reference="B")
    ledger.fee_charge(carrier=carrier, amount=Decimal("4325"), reference=("booking", "1"))
    (batch,) = budget_transfer_make()
    assert receipts_issue_for_batch(batch_id=batch.pk) == 1
    receipt = Receipt.objects.get()
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        Receipt.objects.filter(pk=receipt.pk).update(amount=Decimal("1.00"))
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        Receipt.objects.filter(pk=receipt.pk).update(pdf=b"%PDF forged")
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        Receipt.objects.filter(pk=receipt.pk).delete()
    assert Receipt.objects.get().amount == Decimal("4325.00")
