"""Writes of the ledger (P1–P3, P6; D1–D5). Every function owns its transaction (a savepoint when
the caller already has one, e.g. a booking) and writes its audit event in it.

Locking: a transfer changes at most two carrier balance rows, in account-id order, each with one
conditional UPDATE (`balance >= amount` when it decreases), so a balance never goes negative and
no two transfers wait on each other in opposite orders. System accounts are never updated.

Idempotency: every transfer carries a key built from what caused it (`fee:booking:42`,
`top_up:bank:REF123`); doing the same thing again returns the first transfer and moves nothing.
"""

import dataclasses
import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from carriers.models import Carrier, Member
from core import audit, bulk, clock
from core.errors import ApplicationError
from core.money import format_tenge, tenge
from deposits import locks
from deposits.iban import normalize_iban
from deposits.models import (
    Account,
    AccountVerified,
    Hold,
    HoldResolution,
    PaymentAwaitingBudget,
    PersonalAccount,
    RefundRequest,
    StatementEntry,
    StatementImport,
    Transfer,
)
from deposits.selectors import (
    IDS_PER_QUERY,
    VERIFIED_ACTION,
    LedgerReport,
    Progress,
    accounts_by_carrier,
    accounts_by_kind,
    ledger_examine,
)
from deposits.statements import MAX_STATEMENT_BYTES, parse_statement, personal_account_number
from notify.models import Message
from notify.services import carrier_owners_notify

Kind = Account.Kind


def _amount(value: Decimal | int | str) -> Decimal:
    amount = tenge(value)
    if amount != Decimal(value) or amount <= 0:
        raise ApplicationError(
            "validation_error",
            _("An amount is a positive number of tenge with at most 2 decimals."),
            fields={"amount": [_("Not a valid amount.")]},
        )
    return amount


# --- Accounts ---------------------------------------------------------------------------------


def personal_account_open(*, carrier: Carrier) -> PersonalAccount:
    """The carrier's personal account with its number and its three ledger accounts (P1).
    Opening it again returns the same account."""
    with transaction.atomic():
        existing = PersonalAccount.objects.filter(carrier=carrier).first()
        if existing is not None:
            return existing
        personal = PersonalAccount.objects.create(
            carrier=carrier, number=personal_account_number(carrier.pk), opened_at=clock.now()
        )
        for kind in Account.CARRIER_KINDS:
            Account.objects.create(carrier=carrier, kind=kind)
        audit.record("account.opened", target=personal, after={"number": personal.number})
    return personal


def system_account(kind: str) -> Account:
    """One of the registrar's accounts; made on first use (they are never updated after)."""
    account = Account.objects.filter(carrier__isnull=True, kind=kind).first()
    if account is None:
        try:
            with transaction.atomic():
                account = Account.objects.create(kind=kind)
        except IntegrityError:
            account = Account.objects.get(carrier__isnull=True, kind=kind)
    return account


def carrier_account(carrier: Carrier, kind: str) -> Account:
    """The carrier's ledger account of `kind`, opened with the personal account if missing."""
    account = Account.objects.filter(carrier=carrier, kind=kind).first()
    if account is None:
        personal_account_open(carrier=carrier)
        account = Account.objects.get(carrier=carrier, kind=kind)
    return account


def accounts_of(carrier: Carrier, *kinds: str) -> dict[str, Account]:
    """The carrier's accounts and the system accounts of `kinds` in one read, by kind; one
    missing is made as `carrier_account` and `system_account` make it. For a caller that moves
    money through several of them at once (a booking's fee and deposit)."""
    found = accounts_by_kind(carrier, *kinds)
    for kind in kinds:
        if kind not in found:
            found[kind] = (
                carrier_account(carrier, kind)
                if kind in Account.CARRIER_KINDS
                else system_account(kind)
            )
    return found


def accounts_of_carriers(carriers: list[Carrier], *kinds: str) -> dict[int, dict[str, Account]]:
    """`accounts_of` for many carriers, by carrier id, in one read (and the making of any
    missing, carrier by carrier)."""
    found = accounts_by_carrier([carrier.pk for carrier in carriers], *kinds)
    for carrier in carriers:
        if len(found[carrier.pk]) < len(kinds):
            found[carrier.pk] = accounts_of(carrier, *kinds)
    return found


class InsufficientFunds(ApplicationError):
    status = 409

    def __init__(self, *, required: Decimal, available: Decimal) -> None:
        super().__init__(
            "insufficient_funds",
            _("Not enough money on the personal account: %(missing)s more is needed.")
            % {"missing": format_tenge(required - available)},
            fields={"required": str(required), "available": str(available)},
        )


@dataclasses.dataclass(frozen=True)
class Movement:
    debit: Account
    credit: Account
    amount: Decimal
    kind: str
    idempotency_key: str
    carrier: Carrier | None = None
    reference: tuple[str, str] = ("", "")
    description: str = ""


def _apply(movement: Movement) -> tuple[Transfer, bool]:
    """Record one transfer and move the carrier balances; returns (transfer, created).

    Runs in a savepoint: when the key was used already (also by a concurrent request that
    committed first), nothing moves and the first transfer is returned."""
    existing = Transfer.objects.filter(idempotency_key=movement.idempotency_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            for account in sorted((movement.debit, movement.credit), key=lambda a: a.pk):
                if not account.is_carrier_account:
                    continue
                if account.pk == movement.debit.pk:
                    moved = Account.objects.filter(
                        pk=account.pk, balance__gte=movement.amount
                    ).update(balance=F("balance") - movement.amount)
                    if not moved:
                        current = Account.objects.get(pk=account.pk).balance
                        raise InsufficientFunds(required=movement.amount, available=current)
                else:
                    Account.objects.filter(pk=account.pk).update(
                        balance=F("balance") + movement.amount
                    )
            transfer = Transfer.objects.create(
                debit=movement.debit,
                credit=movement.credit,
                amount=movement.amount,
                kind=movement.kind,
                carrier=movement.carrier,
                reference_type=movement.reference[0],
                reference_id=str(movement.reference[1]),
                description=movement.description[:300],
                idempotency_key=movement.idempotency_key,
                created_at=clock.now(),
            )
            if transfer.kind in Transfer.BUDGET_PAYMENT_KINDS:
                PaymentAwaitingBudget.objects.create(transfer=transfer)
    except IntegrityError:
        existing = Transfer.objects.filter(idempotency_key=movement.idempotency_key).first()
        if existing is None:
            raise
        return existing, False
    return transfer, True


def _audit_transfer(transfer: Transfer, *, actor: Any = None) -> None:
    audit.record(
        f"ledger.{transfer.kind}",
        actor=actor,
        target=transfer,
        after={
            "amount": transfer.amount,
            "debit": transfer.debit_id,
            "credit": transfer.credit_id,
            "carrier": transfer.carrier_id,
            "reference": f"{transfer.reference_type}:{transfer.reference_id}",
        },
    )


def transfer_post(movement: Movement, *, actor: Any = None) -> Transfer:
    """Record `movement` as one transfer (P6) with its audit event, once per idempotency key;
    the ledger's one way to move money, for the services of other apps too (the budget)."""
    with transaction.atomic():
        transfer, created = _apply(movement)
        if created:
            _audit_transfer(transfer, actor=actor)
    return transfer


# --- Top-ups, fees --------------------------------------------------------------------------------


def account_top_up(
    *,
    carrier: Carrier,
    amount: Decimal,
    bank_reference: str,
    description: str = "",
    actor: Any = None,
) -> Transfer:
    """Money that arrived at the registrar's bank account for this carrier (P1)."""
    return transfer_post(
        Movement(
            debit=system_account(Kind.BANK_INCOMING),
            credit=carrier_account(carrier, Kind.AVAILABLE),
            amount=_amount(amount),
            kind=Transfer.Kind.TOP_UP,
            idempotency_key=f"top_up:bank:{bank_reference}",
            carrier=carrier,
            reference=("bank", bank_reference),
            description=description,
        ),
        actor=actor,
    )


def fee_charge(
    *,
    carrier: Carrier,
    amount: Decimal,
    reference: tuple[str, str],
    kind: str = Transfer.Kind.FEE,
    idempotency_key: str | None = None,
    description: str = "",
    actor: Any = None,
    accounts: dict[str, Account] | None = None,
) -> Transfer:
    """Take a fee (or a re-booking fee) from the available balance (B8); refuses when short.

    `accounts`: the carrier's `available` and the `fees_payable` account when the caller has
    read them already (`accounts_of`)."""
    if kind not in (Transfer.Kind.FEE, Transfer.Kind.REBOOKING_FEE):
        raise ValueError(f"not a fee kind: {kind}")
    accounts = accounts or accounts_of(carrier, Kind.AVAILABLE, Kind.FEES_PAYABLE)
    return transfer_post(
        Movement(
            debit=accounts[Kind.AVAILABLE],
            credit=accounts[Kind.FEES_PAYABLE],
            amount=_amount(amount),
            kind=kind,
            idempotency_key=idempotency_key or f"{kind}:{reference[0]}:{reference[1]}",
            carrier=carrier,
            reference=reference,
            description=description,
        ),
        actor=actor,
    )


def fee_refund_to_balance(
    *,
    transfer: Transfer,
    reason: str,
    actor: Any = None,
) -> Transfer:
    """Give a fee back to the available balance (operator cancellations, C3/D4), once per fee.
    A fee already transferred to the budget is refunded through a claim on the budget."""
    if transfer.kind not in (Transfer.Kind.FEE, Transfer.Kind.REBOOKING_FEE):
        raise ValueError("only fees are refunded this way")
    with transaction.atomic():
        refund = transfer_post(
            Movement(
                debit=system_account(Kind.FEES_PAYABLE),
                credit=carrier_account(transfer.carrier, Kind.AVAILABLE),
                amount=transfer.amount,
                kind=Transfer.Kind.FEE_REFUND,
                idempotency_key=f"fee_refund:{transfer.pk}",
                carrier=transfer.carrier,
                reference=(transfer.reference_type, transfer.reference_id),
                description=reason,
            ),
            actor=actor,
        )
        # Given back, the fee no longer waits for the budget.
        PaymentAwaitingBudget.objects.filter(transfer=transfer).delete()
    return refund


# --- Deposits (D1–D5) ---------------------------------------------------------------------------


def deposit_hold(
    *,
    carrier: Carrier,
    amount: Decimal,
    reference: tuple[str, str],
    idempotency_key: str | None = None,
    actor: Any = None,
    accounts: dict[str, Account] | None = None,
) -> Hold:
    """Block a guarantee deposit on the carrier's account (D1).

    `accounts`: the carrier's `available` and `held` accounts when the caller has read them
    already (`accounts_of`)."""
    key = idempotency_key or f"deposit_hold:{reference[0]}:{reference[1]}"
    with transaction.atomic():
        accounts = accounts or accounts_of(carrier, Kind.AVAILABLE, Kind.HELD)
        transfer, created = _apply(
            Movement(
                debit=accounts[Kind.AVAILABLE],
                credit=accounts[Kind.HELD],
                amount=_amount(amount),
                kind=Transfer.Kind.DEPOSIT_HOLD,
                idempotency_key=key,
                carrier=carrier,
                reference=reference,
            )
        )
        if not created:
            return Hold.objects.get(transfer=transfer)
        hold = Hold.objects.create(
            carrier=carrier,
            amount=transfer.amount,
            transfer=transfer,
            reference_type=reference[0],
            reference_id=str(reference[1]),
            created_at=transfer.created_at,
        )
        _audit_transfer(transfer, actor=actor)
    return hold


def fee_charge_with_deposit_hold(
    *,
    carrier: Carrier,
    fee: Decimal,
    deposit: Decimal,
    reference: tuple[str, str],
    accounts: dict[str, Account],
    actor: Any = None,
) -> Hold:
    """A new booking's money (B8, D1): the fee to `fees_payable` and the deposit held, both or
    neither. The same transfers, hold and audit events as `fee_charge` then `deposit_hold`, in
    fewer statements, for a `reference` made in the caller's transaction (a new booking):
    `booking_charges_take` then `booking_charges_record` for one booking.

    `accounts`: the carrier's `available` and `held` and the `fees_payable` account
    (`accounts_of`). Raises InsufficientFunds (required fee + deposit) when short."""
    charge = BookingCharge(
        carrier=carrier,
        fee=_amount(fee),
        deposit=_amount(deposit),
        reference=reference,
        accounts=accounts,
        actor=actor,
    )
    if not booking_charges_take([charge])[0]:
        current = Account.objects.get(pk=accounts[Kind.AVAILABLE].pk).balance
        raise InsufficientFunds(required=charge.total, available=current)
    return booking_charges_record([charge])[0]


@dataclasses.dataclass(frozen=True)
class BookingCharge:
    """One new booking's fee and deposit (B8, D1), from the carrier's `accounts` (`available`,
    `held` and the `fees_payable` account, as `accounts_of` gives them)."""

    carrier: Carrier
    fee: Decimal
    deposit: Decimal
    reference: tuple[str, str]
    accounts: dict[str, Account]
    actor: Any = None

    @property
    def total(self) -> Decimal:
        return self.fee + self.deposit


def booking_charges_take(charges: list[BookingCharge]) -> list[bool]:
    """Move the balances of new bookings' money (B8), in the caller's transaction: for each
    carrier, fee + deposit of its charges taken from `available` and the deposits added to
    `held`, ONE conditional UPDATE per account (`balance >= total` on `available`), the
    accounts in id order (P6, docs/locking.md). A carrier short of the total pays the charges
    it can in list order, each as one booking after another would (a charge it cannot pay is
    passed by, a later cheaper one may still be paid). Which charges were paid; nothing is
    recorded yet (`booking_charges_record`)."""
    by_carrier: dict[int, list[int]] = {}
    for index, charge in enumerate(charges):
        by_carrier.setdefault(charge.carrier.pk, []).append(index)
    paid = [False] * len(charges)
    steps = []  # (account id, carrier id, whether it is the available account)
    for carrier_id, indexes in by_carrier.items():
        accounts = charges[indexes[0]].accounts
        steps.append((accounts[Kind.AVAILABLE].pk, carrier_id, True))
        steps.append((accounts[Kind.HELD].pk, carrier_id, False))
        for index in indexes:
            paid[index] = True
    held_added: dict[int, Decimal] = {}  # by carrier, when `held` came first
    for account_id, carrier_id, is_available in sorted(steps):
        indexes = by_carrier[carrier_id]
        if not is_available:
            deposits = sum((charges[i].deposit for i in indexes if paid[i]), Decimal(0))
            Account.objects.filter(pk=account_id).update(balance=F("balance") + deposits)
            held_added[carrier_id] = deposits
            continue
        balance = None
        while True:
            total = sum((charges[i].total for i in indexes if paid[i]), Decimal(0))
            if not total or _take_from(account_id, total):
                break
            # Short: pay what the balance covers, in order, then take that (the balance may
            # have moved since it was read: again until the conditional UPDATE passes).
            current = Account.objects.get(pk=account_id).balance
            if current == balance:
                raise RuntimeError(f"account #{account_id} refuses {total} of {current}")
            balance = current
            left = current
            for i in indexes:
                paid[i] = charges[i].total <= left
                if paid[i]:
                    left -= charges[i].total
        if carrier_id in held_added:  # `held` was moved first, by the first reckoning
            deposits = sum((charges[i].deposit for i in indexes if paid[i]), Decimal(0))
            if deposits != held_added[carrier_id]:
                Account.objects.filter(pk=charges[indexes[0]].accounts[Kind.HELD].pk).update(
                    balance=F("balance") - (held_added[carrier_id] - deposits)
                )
    return paid


def _take_from(account_id: int, amount: Decimal) -> bool:
    return bool(
        Account.objects.filter(pk=account_id, balance__gte=amount).update(
            balance=F("balance") - amount
        )
    )


def booking_charges_record(charges: list[BookingCharge]) -> list[Hold]:
    """The ledger's records of charges `booking_charges_take` moved: per charge the fee and the
    deposit transfers, the fee on the budget's work list (P4), the hold and the two audit
    events, each kind of row written in one go (core.bulk), in the caller's transaction. The
    holds, in the order of `charges`.

    No look-up of the idempotency keys (`fee:…`, `deposit_hold:…`): no transfer can name a
    reference made in the caller's transaction (a new booking). The keys stay unique in the
    database, so a clash fails the caller's transaction instead of moving money twice."""
    now = clock.now()
    transfers = []
    for charge in charges:
        reference_type, reference_id = charge.reference[0], str(charge.reference[1])
        for kind, credit, amount in (
            (Transfer.Kind.FEE, charge.accounts[Kind.FEES_PAYABLE], charge.fee),
            (Transfer.Kind.DEPOSIT_HOLD, charge.accounts[Kind.HELD], charge.deposit),
        ):
            transfers.append(
                Transfer(
                    debit=charge.accounts[Kind.AVAILABLE],
                    credit=credit,
                    amount=amount,
                    kind=kind,
                    carrier=charge.carrier,
                    reference_type=reference_type,
                    reference_id=reference_id,
                    idempotency_key=f"{kind}:{reference_type}:{reference_id}",
                    created_at=now,
                )
            )
    bulk.insert(transfers)
    bulk.insert([PaymentAwaitingBudget(transfer=transfer) for transfer in transfers[::2]])
    holds = bulk.insert(
        [
            Hold(
                carrier=charge.carrier,
                amount=charge.deposit,
                transfer=transfer,
                reference_type=transfer.reference_type,
                reference_id=transfer.reference_id,
                created_at=now,
            )
            for charge, transfer in zip(charges, transfers[1::2], strict=True)
        ]
    )
    for charge, fee, held in zip(charges, transfers[::2], transfers[1::2], strict=True):
        _audit_transfer(fee, actor=charge.actor)
        _audit_transfer(held, actor=charge.actor)
    return list(holds)


def _resolve(hold: Hold, outcome: str, *, reason: str, actor: Any) -> HoldResolution:
    existing = HoldResolution.objects.filter(hold=hold).first()
    if existing is not None:
        return existing
    if outcome == HoldResolution.Outcome.RELEASED:
        credit, kind = carrier_account(hold.carrier, Kind.AVAILABLE), Transfer.Kind.DEPOSIT_RELEASE
    else:
        credit, kind = system_account(Kind.FORFEITS_PAYABLE), Transfer.Kind.DEPOSIT_FORFEIT
    try:
        with transaction.atomic():
            # The key is per hold, not per outcome: a release and a forfeit of the same hold
            # racing each other collide here, and the one-to-one on the resolution backs it.
            transfer, created = _apply(
                Movement(
                    debit=carrier_account(hold.carrier, Kind.HELD),
                    credit=credit,
                    amount=hold.amount,
                    kind=kind,
                    idempotency_key=f"hold_resolution:{hold.pk}",
                    carrier=hold.carrier,
                    reference=(hold.reference_type, hold.reference_id),
                    description=reason,
                )
            )
            if not created:
                return HoldResolution.objects.get(hold=hold)
            resolution = HoldResolution.objects.create(
                hold=hold,
                outcome=outcome,
                transfer=transfer,
                resolved_at=transfer.created_at,
                reason=reason[:200],
            )
            _audit_transfer(transfer, actor=actor)
    except IntegrityError:
        return HoldResolution.objects.get(hold=hold)
    return resolution


def hold_release(*, hold: Hold, reason: str = "", actor: Any = None) -> HoldResolution:
    """Give the deposit back to the available balance (D2, D3 forgiven, D4). A second call,
    or a call after a forfeit, changes nothing and returns the first outcome."""
    return _resolve(hold, HoldResolution.Outcome.RELEASED, reason=reason, actor=actor)


def hold_forfeit(*, hold: Hold, reason: str = "", actor: Any = None) -> HoldResolution:
    """Forfeit the deposit to the state budget (D3). Exactly once, like `hold_release`."""
    return _resolve(hold, HoldResolution.Outcome.FORFEITED, reason=reason, actor=actor)


# --- Refunds to the carrier's bank account (P3) ----------------------------------------------


def _validate_iban(iban: str) -> str:
    return normalize_iban(iban)


def refund_request(
    *, carrier: Carrier, amount: Decimal, iban: str, requested_by: Any
) -> RefundRequest:
    """The carrier asks for available money to be paid to its bank account: the amount moves to
    `refund_pending` until an operator pays or rejects it. Every owner of the carrier is told
    (A8): money leaving the carrier is never asked for unnoticed."""
    iban = _validate_iban(iban)
    amount = _amount(amount)
    now = clock.now()
    with transaction.atomic():
        transfer = transfer_post(
            Movement(
                debit=carrier_account(carrier, Kind.AVAILABLE),
                credit=carrier_account(carrier, Kind.REFUND_PENDING),
                amount=amount,
                kind=Transfer.Kind.REFUND_REQUEST,
                idempotency_key=f"refund_request:{uuid.uuid4()}",
                carrier=carrier,
                reference=("iban", iban),
            ),
            actor=requested_by,
        )
        refund = RefundRequest.objects.create(
            carrier=carrier,
            amount=amount,
            iban=iban,
            requested_by=requested_by,
            requested_at=now,
            request_transfer=transfer,
        )
        audit.record(
            "ledger.refund_requested",
            actor=requested_by,
            target=refund,
            after={"amount": amount, "iban": iban},
        )
        carrier_owners_notify(
            carrier_id=carrier.pk,
            event=Message.Kind.REFUND_REQUESTED,
            role=Member.objects.filter(carrier=carrier, user_id=getattr(requested_by, "pk", None))
            .values_list("role", flat=True)
            .first(),
            amount=amount,
            iban=iban,
        )
    return refund


def _refund_resolve(
    refund: RefundRequest, *, paid: bool, actor: Any, note: str = ""
) -> RefundRequest:
    with transaction.atomic():
        refund = locks.refund_request(refund.pk)
        if refund.status != RefundRequest.Status.REQUESTED:
            raise ApplicationError(
                "not_changeable",
                _("This refund was already %(status)s.")
                % {"status": refund.get_status_display().lower()},
                status=409,
            )
        transfer = transfer_post(
            Movement(
                debit=carrier_account(refund.carrier, Kind.REFUND_PENDING),
                credit=(
                    system_account(Kind.BANK_PAYOUTS)
                    if paid
                    else carrier_account(refund.carrier, Kind.AVAILABLE)
                ),
                amount=refund.amount,
                kind=Transfer.Kind.REFUND_PAID if paid else Transfer.Kind.REFUND_REJECTED,
                idempotency_key=f"refund_resolution:{refund.pk}",
                carrier=refund.carrier,
                reference=("refund", str(refund.pk)),
                description=note,
            ),
            actor=actor,
        )
        refund.status = RefundRequest.Status.PAID if paid else RefundRequest.Status.REJECTED
        refund.resolved_by = actor
        refund.resolved_at = transfer.created_at
        refund.resolution_transfer = transfer
        refund.note = note[:300]
        refund.save()
        audit.record(
            "ledger.refund_paid" if paid else "ledger.refund_rejected",
            actor=actor,
            target=refund,
            before={"status": RefundRequest.Status.REQUESTED},
            after={"status": refund.status, "note": note},
        )
    return refund


def refund_mark_paid(*, refund: RefundRequest, actor: Any, note: str = "") -> RefundRequest:
    """The operator paid the refund out from the registrar's bank account."""
    return _refund_resolve(refund, paid=True, actor=actor, note=note)


def refund_reject(*, refund: RefundRequest, actor: Any, note: str) -> RefundRequest:
    """The operator refuses the refund; the money goes back to the available balance."""
    return _refund_resolve(refund, paid=False, actor=actor, note=note)


# --- Bank statements (P1) ---------------------------------------------------------------------
#
# A statement is imported line by line: each line is its own transaction (a savepoint when the
# caller already has one) that inserts its `StatementEntry` and, when the personal account is
# found, credits it. The entry's unique bank reference is the gate: a line imported before, or
# by an import running at the same moment, fails the insert and moves nothing. Committing line
# by line keeps a long statement from holding carriers' balance rows (or, on SQLite, the whole
# database) for the length of the file; an import that stops half-way is completed by importing
# the file again.

DESCRIPTION_LIMIT = 200


def _compact_iban(value: str) -> str:
    return "".join((value or "").split()).upper()


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _top_up_key(bank_reference: str) -> str:
    # The key `account_top_up` gives a bank payment; kept in step with it.
    return f"top_up:bank:{bank_reference}"


def _booked_moment(value: Any) -> Any:
    """A statement's booking date or time as an aware datetime (a date: its start in Almaty)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(0), tzinfo=clock.ALMATY)


def _top_up_description(payer_name: str, remittance: str) -> str:
    parts = [part for part in (payer_name.strip(), remittance.strip()) if part]
    return _shorten(" — ".join(parts), DESCRIPTION_LIMIT)


def _park_reason(line: Any) -> tuple[str, PersonalAccount | None]:
    """Why the line cannot be credited by itself, or ("", the personal account) when it can."""
    numbers = line.account_numbers
    if not numbers:
        return StatementEntry.ParkReason.NO_NUMBER, None
    if len(numbers) > 1:
        return StatementEntry.ParkReason.SEVERAL_NUMBERS, None
    personal = PersonalAccount.objects.select_related("carrier").filter(number=numbers[0]).first()
    if personal is None:
        return StatementEntry.ParkReason.UNKNOWN_NUMBER, None
    return "", personal


class _ReferenceUsed(Exception):
    """The bank reference already has a top-up for another carrier or amount."""


def _credit_entry(entry: StatementEntry, carrier: Carrier, *, actor: Any) -> Transfer:
    """Put the entry's money on the carrier's available balance (in the caller's transaction)."""
    existing = Transfer.objects.filter(idempotency_key=_top_up_key(entry.bank_reference)).first()
    if existing is not None and (
        existing.carrier_id != carrier.pk or existing.amount != entry.amount
    ):
        raise _ReferenceUsed
    return account_top_up(
        carrier=carrier,
        amount=entry.amount,
        bank_reference=entry.bank_reference,
        description=_top_up_description(entry.payer_name, entry.remittance),
        actor=actor,
    )


def _import_entry(entry: StatementEntry, *, personal: PersonalAccount | None, actor: Any) -> str:
    """Insert one line and credit it if it can be: "credited", "parked" or "already"."""
    if StatementEntry.objects.filter(bank_reference=entry.bank_reference).exists():
        return "already"  # the common case of a file imported again, without a failed insert
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
            if personal is None:
                return "parked"
            try:
                transfer = _credit_entry(entry, personal.carrier, actor=actor)
            except _ReferenceUsed:
                entry.park_reason = StatementEntry.ParkReason.REFERENCE_USED
                entry.save(update_fields=["park_reason"])
                return "parked"
            entry.status = StatementEntry.Status.CREDITED
            entry.park_reason = ""
            entry.carrier = personal.carrier
            entry.transfer = transfer
            entry.save(update_fields=["status", "park_reason", "carrier", "transfer"])
            return "credited"
    except IntegrityError:
        if StatementEntry.objects.filter(bank_reference=entry.bank_reference).exists():
            return "already"
        raise


def _entry_of_line(statement_import: StatementImport, line: Any, reason: str) -> StatementEntry:
    return StatementEntry(
        bank_reference=line.bank_reference,
        statement_import=statement_import,
        amount=line.amount,
        currency=line.currency,
        booked_at=_booked_moment(line.booked_at),
        remittance=line.remittance,
        payer_name=line.payer_name[:300],
        payer_iban=line.payer_iban[:64],
        payer_bin=line.payer_bin[:64],
        raw=line.raw,
        status=StatementEntry.Status.PARKED,
        park_reason=reason,
        created_at=clock.now(),
    )


def _entry_of_foreign_credit(statement_import: StatementImport, skipped: Any) -> StatementEntry:
    """A booked credit in another currency: money that arrived all the same, so it is kept for
    an operator (parked), never credited in tenge."""
    raw = skipped.raw or {}
    return StatementEntry(
        bank_reference=skipped.bank_reference,
        statement_import=statement_import,
        amount=skipped.amount,
        currency=skipped.currency,
        remittance=str(raw.get("remittance", "")),
        payer_name=str(raw.get("payer_name") or raw.get("payer") or "")[:300],
        payer_iban=str(raw.get("payer_iban", ""))[:64],
        payer_bin=str(raw.get("payer_bin", ""))[:64],
        raw=raw,
        status=StatementEntry.Status.PARKED,
        park_reason=StatementEntry.ParkReason.CURRENCY,
        created_at=clock.now(),
    )


def _is_storable_foreign_credit(skipped: Any) -> bool:
    max_length = StatementEntry._meta.get_field("bank_reference").max_length
    return (
        skipped.reason_code == "currency"
        and bool(skipped.bank_reference)
        and len(skipped.bank_reference) <= max_length
        and skipped.amount is not None
        and skipped.amount > 0
    )


def bank_statement_import(
    *, data: bytes, filename: str, actor: Any = None, max_bytes: int | None = None
) -> StatementImport:
    """Import a camt.053 or CSV statement of the registrar's account (P1).

    Refuses the whole file when it cannot be read (`statement_invalid`) or is for another
    account (`statement_wrong_account`): nothing is stored then. Otherwise each booked credit is
    credited to the personal account its payment details name, or parked for an operator with
    the reason; a line imported before is counted as already imported and moves nothing.
    Debits, pending entries and reversals are counted as skipped, not stored."""
    statement = parse_statement(data, filename=filename, max_bytes=max_bytes or MAX_STATEMENT_BYTES)
    registrar_iban = _compact_iban(settings.REGISTRAR_IBAN)
    if _compact_iban(statement.account_iban) != registrar_iban:
        message = _(
            "This statement is for the account %(statement_iban)s, not for the registrar's "
            "account %(registrar_iban)s. Nothing was imported."
        ) % {"statement_iban": statement.account_iban, "registrar_iban": registrar_iban}
        raise ApplicationError(
            "statement_wrong_account", message, status=400, fields={"file": [message]}
        )

    with transaction.atomic():
        statement_import = StatementImport.objects.create(
            file_name=(filename or "")[:255],
            sha256=hashlib.sha256(bytes(data)).hexdigest(),
            format=statement.format,
            statement_id=statement.statement_id[:300],
            account_iban=registrar_iban,
            uploaded_by=actor if getattr(actor, "is_authenticated", False) else None,
            imported_at=clock.now(),
        )

    counts = {"credited": 0, "parked": 0, "already": 0, "skipped": 0}
    parked: list[str] = []
    for line in statement.lines:
        reason, personal = _park_reason(line)
        outcome = _import_entry(
            _entry_of_line(statement_import, line, reason), personal=personal, actor=actor
        )
        counts[outcome] += 1
        if outcome == "parked":
            parked.append(line.bank_reference)
    for skipped in statement.skipped:
        if not _is_storable_foreign_credit(skipped):
            counts["skipped"] += 1
            continue
        outcome = _import_entry(
            _entry_of_foreign_credit(statement_import, skipped), personal=None, actor=actor
        )
        counts[outcome] += 1
        if outcome == "parked":
            parked.append(skipped.bank_reference)

    with transaction.atomic():
        statement_import.credited = counts["credited"]
        statement_import.already_imported = counts["already"]
        statement_import.parked = counts["parked"]
        statement_import.skipped = counts["skipped"]
        statement_import.finished_at = clock.now()
        statement_import.save(
            update_fields=["credited", "already_imported", "parked", "skipped", "finished_at"]
        )
        audit.record(
            "deposits.statement_imported",
            actor=actor,
            target=statement_import,
            after={
                "file_name": statement_import.file_name,
                "sha256": statement_import.sha256,
                "format": statement_import.format,
                "statement_id": statement_import.statement_id,
                "account_iban": statement_import.account_iban,
                "credited": counts["credited"],
                "already_imported": counts["already"],
                "parked": counts["parked"],
                "skipped": counts["skipped"],
                "parked_references": parked[:200],
            },
        )
    return statement_import


def parked_entry_assign(
    *, entry: StatementEntry, carrier: Carrier, actor: Any, note: str = ""
) -> StatementEntry:
    """An operator credits a parked statement line to the carrier it was meant for (P1), once:
    a line already credited or assigned is refused (`not_changeable`)."""
    with transaction.atomic():
        entry = locks.statement_entry(entry.pk)
        if entry.status != StatementEntry.Status.PARKED:
            raise ApplicationError(
                "not_changeable",
                _("This bank statement line was already credited (%(status)s).")
                % {"status": entry.get_status_display().lower()},
                status=409,
            )
        if entry.currency != "KZT":
            raise ApplicationError(
                "validation_error",
                _(
                    "This payment is in %(currency)s, not in tenge: it cannot be put on a "
                    "personal account. Settle it with the bank."
                )
                % {"currency": entry.currency},
            )
        try:
            transfer = _credit_entry(entry, carrier, actor=actor)
        except _ReferenceUsed:
            raise ApplicationError(
                "not_changeable",
                _(
                    "This bank reference was already credited otherwise; it cannot be "
                    "credited again."
                ),
                status=409,
            ) from None
        before = {"status": entry.status, "park_reason": entry.park_reason}
        entry.status = StatementEntry.Status.ASSIGNED
        entry.carrier = carrier
        entry.transfer = transfer
        entry.assigned_by = actor
        entry.assigned_at = transfer.created_at
        entry.assign_note = note[:300]
        entry.save(
            update_fields=[
                "status",
                "carrier",
                "transfer",
                "assigned_by",
                "assigned_at",
                "assign_note",
            ]
        )
        audit.record(
            "deposits.statement_entry_assigned",
            actor=actor,
            target=entry,
            before=before,
            after={
                "status": entry.status,
                "carrier": carrier.pk,
                "amount": entry.amount,
                "transfer": transfer.pk,
                "note": entry.assign_note,
            },
        )
    return entry


# --- The nightly check (P6) -----------------------------------------------------------------------


def _verified_record(report: LedgerReport, balances: dict[int, Decimal]) -> None:
    """The balances through the watermark, and the verification as an audit event (A6)."""
    AccountVerified.objects.bulk_create(
        [
            AccountVerified(
                account_id=pk, through_transfer=report.through_transfer, balance=balance
            )
            for pk, balance in balances.items()
        ],
        update_conflicts=True,
        unique_fields=["account"],
        update_fields=["through_transfer", "balance"],
        batch_size=IDS_PER_QUERY,
    )
    audit.record(
        VERIFIED_ACTION,
        object_type=Transfer._meta.label_lower,
        object_id=report.through_transfer,
        object_repr=f"ledger verified through transfer #{report.through_transfer}",
        after={
            "through_transfer": report.through_transfer,
            "since_transfer": report.since_transfer,
            "transfers": report.transfers,
            "accounts": report.accounts_checked,
            "full": report.full,
        },
    )


def ledger_verify(*, full: bool = False, progress: Progress | None = None) -> LedgerReport:
    """`verify_ledger` (P6): `ledger_examine` in one snapshot (REPEATABLE READ on PostgreSQL; a
    SQLite transaction is one). A consistent check records, in that transaction, each checked
    account's balance through the watermark T (`locks.transfer_watermark`, read first: every
    transfer up to T is committed, so none can turn up below it later) and an audit event; one
    that finds problems records nothing, and the next run checks again from the same point.
    Call it outside a transaction (the watermark's lock would last to its end); `progress`
    hears a line per 100 000 transfers of a long run."""
    watermark = locks.transfer_watermark()
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        report, balances = ledger_examine(watermark=watermark, full=full, progress=progress)
        if report.ok:
            _verified_record(report, balances)
    return report
