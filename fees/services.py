import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from core import audit, clock
from core.errors import ApplicationError
from core.workdays import add_working_days
from deposits import services as ledger
from deposits.models import PaymentAwaitingBudget, Transfer
from fees import locks
from fees.models import (
    BudgetAccount,
    BudgetBatch,
    BudgetBatchLine,
    BudgetRefundClaim,
    FeeItem,
    FeeSchedule,
    MrpRate,
    MrpRefusals,
)
from fees.selectors import Quote, as_charge_refusal, quotes

REFERENCE_FILE = Path(__file__).resolve().parent / "data" / "fees.json"


def reference_fees_load(
    *, path: Path = REFERENCE_FILE, overwrite: bool = False, actor: Any = None
) -> dict[str, int]:
    """Load MRP by year (R2) and the fee schedules (R3). Existing rows are kept unless
    `overwrite`: operators own these values once they are in."""
    data = json.loads(path.read_text(encoding="utf-8"))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with transaction.atomic():
        for year, value in data["mrp_by_year"].items():
            rate = MrpRate.objects.filter(year=int(year)).first()
            value = Decimal(str(value))
            if rate is None:
                rate = MrpRate.objects.create(year=int(year), value=value)
                audit.record("fees.mrp_set", actor=actor, target=rate, after={"value": value})
                counts["created"] += 1
            elif overwrite and rate.value != value:
                audit.record(
                    "fees.mrp_set",
                    actor=actor,
                    target=rate,
                    before={"value": rate.value},
                    after={"value": value},
                )
                MrpRate.objects.filter(pk=rate.pk).update(value=value)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
        for row in data["schedules"]:
            effective_from = dt.date.fromisoformat(row["effective_from"])
            basis = {key: row[key] for key in ("basis_en", "basis_ru", "basis_kk")}
            schedule = FeeSchedule.objects.filter(effective_from=effective_from).first()
            if schedule is not None and not overwrite:
                counts["unchanged"] += 1
                continue
            if schedule is None:
                schedule = FeeSchedule.objects.create(effective_from=effective_from, **basis)
                counts["created"] += 1
            else:
                FeeSchedule.objects.filter(pk=schedule.pk).update(**basis)
                counts["updated"] += 1
            for service, mrp in row["items"].items():
                FeeItem.objects.update_or_create(
                    schedule=schedule, service=service, defaults={"mrp": mrp}
                )
            audit.record(
                "fees.schedule_loaded",
                actor=actor,
                target=schedule,
                after={**basis, "items": row["items"]},
            )
        for row in data.get("budget_accounts", []):
            fields = {key: value for key, value in row.items() if key != "kind"}
            account = BudgetAccount.objects.filter(kind=row["kind"]).first()
            if account is None:
                account = BudgetAccount.objects.create(kind=row["kind"], **fields)
                audit.record("fees.budget_account_set", actor=actor, target=account, after=fields)
                counts["created"] += 1
            elif overwrite:
                BudgetAccount.objects.filter(pk=account.pk).update(**fields)
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
    return counts


# --- Transfers to the state budget (P4) ---------------------------------------------------------

# Which ledger transfers are payments to the budget, and from which system account they go.
BUDGET_PAYMENTS = {
    BudgetAccount.Kind.FEES: ("fees_payable", ("fee", "rebooking_fee")),
    BudgetAccount.Kind.FORFEITS: ("forfeits_payable", ("deposit_forfeit",)),
}
TRANSFER_WITHIN_WORKING_DAYS = 3


def charge_quotes(*services: str, on: dt.date) -> list[Quote]:
    """`quotes` for a charge about to be made on `on`. A charge refused because the MRP of its
    year has not been entered (R2) says so plainly, nothing having been charged, and is counted
    for the operators (`missing_mrp`). Call it before the charge's own transaction: the count
    must outlive the refusal."""
    try:
        return quotes(*services, on=on)
    except ApplicationError as exc:
        if exc.code == "mrp_not_set":
            mrp_refusal_record(year=on.year)
        raise as_charge_refusal(exc, on=on) from exc


def mrp_refusal_record(*, year: int) -> None:
    """Count one charge refused for the missing MRP of `year`."""
    now = clock.now()
    with transaction.atomic():
        if MrpRefusals.objects.filter(year=year).update(count=F("count") + 1, last_at=now):
            return
        try:
            with transaction.atomic():
                MrpRefusals.objects.create(year=year, count=1, first_at=now, last_at=now)
        except IntegrityError:  # another refusal created the row first
            MrpRefusals.objects.filter(year=year).update(count=F("count") + 1, last_at=now)


def payment_deadline(paid_at) -> dt.date:
    """A payment goes to the budget within 3 working days (R4) of the day it was paid (P4)."""
    return add_working_days(clock.local_date(paid_at), TRANSFER_WITHIN_WORKING_DAYS)


def _deadlines() -> Callable[[dt.datetime], dt.date]:
    """`payment_deadline` for one run over many payments: the calendar is read once per day
    paid, not once per payment (a day's thousands of fees share one deadline)."""
    by_day: dict[dt.date, dt.date] = {}

    def deadline(paid_at: dt.datetime) -> dt.date:
        day = clock.local_date(paid_at)
        if day not in by_day:
            by_day[day] = add_working_days(day, TRANSFER_WITHIN_WORKING_DAYS)
        return by_day[day]

    return deadline


def _untransferred(kind: str, as_of):
    """Payments of `kind` made up to `as_of` that wait for the budget: in no batch yet and not
    refunded (the ledger's work list, PaymentAwaitingBudget, a day's size whatever the history)."""
    _account, transfer_kinds = BUDGET_PAYMENTS[kind]
    return Transfer.objects.filter(
        awaiting_budget__isnull=False, kind__in=transfer_kinds, created_at__lte=as_of
    ).order_by("pk")


def budget_transfer_make(*, as_of=None, actor=None) -> list[BudgetBatch]:
    """Gather the payments not yet transferred into one batch per budget code, move the money
    to the budget through the ledger and record the payment order; the order counts as executed
    at once (bank confirmations are not modelled), so the receipts follow (P4, P5).

    Two runs at the same time never put a payment in two batches: the payments are locked with
    SKIP LOCKED on PostgreSQL (SQLite runs writers one at a time), and each batch line's
    one-to-one on its payment backs it."""
    as_of = as_of or clock.now()
    day = clock.local_date(as_of)
    deadline_of = _deadlines()
    batches = []
    for account in BudgetAccount.objects.order_by("kind"):
        source_kind, _kinds = BUDGET_PAYMENTS[account.kind]
        with transaction.atomic():
            payments = locks.payments_unless_taken(_untransferred(account.kind, as_of), 5000)
            if not payments:
                continue
            total = sum((payment.amount for payment in payments), Decimal("0.00"))
            # Parallel runs take disjoint payments but would number their batches alike (and so
            # share the ledger's idempotency key): the account's row lock makes them number one
            # after another, each seeing the batches committed before it.
            locks.budget_account(account.pk)
            sequence = BudgetBatch.objects.filter(day=day, kind=account.kind).count() + 1
            now = clock.now()
            movement = ledger.Movement(
                debit=ledger.system_account(source_kind),
                credit=ledger.system_account("budget"),
                amount=total,
                kind=Transfer.Kind.BUDGET_TRANSFER,
                idempotency_key=f"budget_batch:{day.isoformat()}:{account.kind}:{sequence}",
                reference=("budget_batch", f"{day:%Y%m%d}-{account.kind}-{sequence}"),
                description=account.purpose,
            )
            transfer = ledger.transfer_post(movement, actor=actor)
            batch = BudgetBatch.objects.create(
                kind=account.kind,
                day=day,
                sequence=sequence,
                budget_code=account.budget_code,
                purpose_code=account.purpose_code,
                recipient_name=account.recipient_name,
                recipient_bin=account.recipient_bin,
                recipient_iban=account.recipient_iban,
                purpose=account.purpose,
                total=total,
                line_count=len(payments),
                transfer=transfer,
                created_at=now,
                executed_at=now,
            )
            BudgetBatchLine.objects.bulk_create(
                BudgetBatchLine(
                    batch=batch,
                    payment=payment,
                    amount=payment.amount,
                    paid_at=payment.created_at,
                    deadline=deadline_of(payment.created_at),
                )
                for payment in payments
            )
            PaymentAwaitingBudget.objects.filter(transfer__in=payments).delete()
            audit.record(
                "budget.batch_transferred",
                actor=actor,
                target=batch,
                after={
                    "payment_order": batch.payment_order_number,
                    "kind": account.kind,
                    "total": total,
                    "payments": len(payments),
                    "budget_code": account.budget_code,
                },
            )
            transaction.on_commit(_receipts_after_transfer(batch.pk))
        batches.append(batch)
    return batches


def _receipts_after_transfer(batch_id: int):
    """Receipts are made in a Celery task once the batch is committed (P5)."""

    def enqueue() -> None:
        # receipts is above fees (it makes receipts of the batches): imported when the batch
        # is committed, not when fees loads.
        from receipts.tasks import issue_receipts_for_batch

        issue_receipts_for_batch.delay(batch_id)

    return enqueue


def overdue_payments(*, as_of=None):
    """Payments still waiting for the budget after their deadline (P4): an alert."""
    as_of = as_of or clock.now()
    today = clock.local_date(as_of)
    deadline_of = _deadlines()
    overdue = []
    for kind in BUDGET_PAYMENTS:
        for payment in _untransferred(kind, as_of).iterator():
            deadline = deadline_of(payment.created_at)
            if deadline < today:
                overdue.append((payment, deadline))
    return overdue


def fee_refund(*, fee, reason: str, actor=None):
    """Give a fee back (C3, D4). Before its transfer to the budget the ledger refunds it at
    once; after, it becomes a claim on the budget that an operator settles (P4). The fee's row
    is locked first, as the budget transfer locks it: a transfer running at the same moment
    either has it in its batch already (then a claim) or passes it by."""
    with transaction.atomic():
        fee = locks.fee_payment(fee.pk)
        if not BudgetBatchLine.objects.filter(payment=fee).exists():
            return ledger.fee_refund_to_balance(transfer=fee, reason=reason, actor=actor)
        return _refund_claim(fee=fee, reason=reason, actor=actor)


def _refund_claim(*, fee, reason: str, actor) -> BudgetRefundClaim:
    claim, created = BudgetRefundClaim.objects.get_or_create(
        fee=fee,
        defaults={
            "carrier": fee.carrier,
            "amount": fee.amount,
            "reason": reason[:200],
            "created_at": clock.now(),
        },
    )
    if created:
        audit.record(
            "budget.refund_claimed",
            actor=actor,
            target=claim,
            after={"fee": fee.pk, "amount": fee.amount, "reason": reason},
        )
    return claim


def budget_refund_settle(*, claim: BudgetRefundClaim, actor) -> BudgetRefundClaim:
    """The budget paid the claim back: the carrier's available balance gets the money (P4)."""
    with transaction.atomic():
        claim = locks.refund_claim(claim.pk)
        if claim.status != BudgetRefundClaim.Status.PENDING:
            raise ApplicationError(
                "not_changeable", _("This claim was already settled."), status=409
            )
        settlement = ledger.transfer_post(
            ledger.Movement(
                debit=ledger.system_account("budget"),
                credit=ledger.carrier_account(claim.carrier, "available"),
                amount=claim.amount,
                kind=Transfer.Kind.FEE_REFUND,
                idempotency_key=f"fee_refund:{claim.fee_id}",
                carrier=claim.carrier,
                reference=(claim.fee.reference_type, claim.fee.reference_id),
                description=claim.reason,
            ),
            actor=actor,
        )
        claim.status = BudgetRefundClaim.Status.SETTLED
        claim.settled_at = clock.now()
        claim.settled_by = actor
        claim.settlement = settlement
        claim.save()
        audit.record(
            "budget.refund_settled",
            actor=actor,
            target=claim,
            before={"status": BudgetRefundClaim.Status.PENDING},
            after={"status": claim.status, "amount": claim.amount},
        )
    return claim
