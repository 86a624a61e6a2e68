"""Reads of the ledger: balances, statements, and the full check of `verify_ledger` (P6)."""

import dataclasses
import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import F, Q, QuerySet

from carriers.models import Carrier
from core.money import MoneySum
from deposits.models import Account, Hold, HoldResolution, PersonalAccount, RefundRequest, Transfer

ZERO = Decimal("0.00")


@dataclasses.dataclass(frozen=True)
class Balances:
    number: str
    available: Decimal
    held: Decimal
    refund_pending: Decimal


def balances_of(carrier: Carrier) -> Balances:
    """Available, held (deposits) and pending refunds (P2), in one query."""
    rows = dict(Account.objects.filter(carrier=carrier).values_list("kind", "balance"))
    personal = PersonalAccount.objects.filter(carrier=carrier).values_list("number", flat=True)
    return Balances(
        number=personal.first() or "",
        available=rows.get(Account.Kind.AVAILABLE, ZERO),
        held=rows.get(Account.Kind.HELD, ZERO),
        refund_pending=rows.get(Account.Kind.REFUND_PENDING, ZERO),
    )


def accounts_by_kind(carrier: Carrier, *kinds: str) -> dict[str, Account]:
    """The carrier's accounts and the system accounts of `kinds` that exist, by kind, in one
    read (with their balances as read); a kind with no account yet is left out."""
    carrier_kinds = [kind for kind in kinds if kind in Account.CARRIER_KINDS]
    system_kinds = [kind for kind in kinds if kind not in Account.CARRIER_KINDS]
    found: dict[str, Account] = {}
    if not kinds:
        return found
    accounts = Account.objects.filter(
        Q(carrier=carrier, kind__in=carrier_kinds) | Q(carrier__isnull=True, kind__in=system_kinds)
    ).order_by("pk")
    for account in accounts:
        found.setdefault(account.kind, account)
    return found


def available_balance(carrier: Carrier) -> Decimal:
    """What the carrier can spend now (P2)."""
    balance = (
        Account.objects.filter(carrier=carrier, kind=Account.Kind.AVAILABLE)
        .values_list("balance", flat=True)
        .first()
    )
    return balance if balance is not None else ZERO


def entries_of(
    carrier: Carrier,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    kinds: list[str] | None = None,
) -> QuerySet[Transfer]:
    """The carrier's statement: every transfer touching its accounts, newest first, optionally
    within [since, until) and of some kinds."""
    entries = Transfer.objects.filter(carrier=carrier)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    return entries.select_related("debit", "credit").order_by("-created_at", "-pk")


STATEMENT_PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class StatementPage:
    entries: list[Transfer]
    # The id to pass as `before` for the next (older) page; None on the last one.
    older_before: int | None


def statement_page(
    entries: QuerySet[Transfer], *, before: int | None = None, size: int = STATEMENT_PAGE_SIZE
) -> StatementPage:
    """One page of `entries_of` (newest first): the `size` entries older than the entry `before`
    (the newest ones without it). A page reads one range of the (carrier, time) index whatever
    the length of the carrier's history; an unknown `before` gives the newest page."""
    if before is not None:
        anchor = entries.filter(pk=before).values_list("created_at", flat=True).first()
        if anchor is not None:
            entries = entries.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=before))
    rows = list(entries[: size + 1])
    return StatementPage(
        entries=rows[:size], older_before=rows[size - 1].pk if len(rows) > size else None
    )


def signed_amount(transfer: Transfer, carrier_id: int) -> Decimal:
    """How the transfer changed the carrier's available money: + in, - out, 0 between its own
    accounts' other parts (e.g. a deposit released shows as + available)."""
    amount = transfer.amount
    if transfer.credit.carrier_id == carrier_id and transfer.credit.kind == Account.Kind.AVAILABLE:
        return amount
    if transfer.debit.carrier_id == carrier_id and transfer.debit.kind == Account.Kind.AVAILABLE:
        return -amount
    return ZERO


def booking_number_of(transfer: Transfer) -> str | None:
    """The human-readable number of the booking a transfer was for, if any (B11)."""
    if transfer.reference_type != "booking" or not transfer.reference_id.isdigit():
        return None
    from bookings.models import booking_number  # bookings is above the ledger

    return booking_number(int(transfer.reference_id))


def system_balance(kind: str) -> Decimal:
    """A registrar account's balance, derived from its transfers (credits − debits)."""
    credits = Transfer.objects.filter(credit__kind=kind, credit__carrier__isnull=True).aggregate(
        s=MoneySum("amount")
    )["s"]
    debits = Transfer.objects.filter(debit__kind=kind, debit__carrier__isnull=True).aggregate(
        s=MoneySum("amount")
    )["s"]
    return (credits or ZERO) - (debits or ZERO)


@dataclasses.dataclass
class LedgerReport:
    accounts_checked: int = 0
    transfers: int = 0
    total: Decimal = ZERO
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def ledger_check() -> LedgerReport:
    """Recompute every balance from the transfers (P6): stored carrier balances must match, all
    balances must add up to zero, every hold is open or resolved once with its own amount, and
    held / pending balances equal the open holds / refunds behind them."""
    report = LedgerReport()
    derived: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for account_id, amount in (
        Transfer.objects.values("credit").annotate(s=MoneySum("amount")).values_list("credit", "s")
    ):
        derived[account_id] += amount
    for account_id, amount in (
        Transfer.objects.values("debit").annotate(s=MoneySum("amount")).values_list("debit", "s")
    ):
        derived[account_id] -= amount
    report.transfers = Transfer.objects.count()
    for account in Account.objects.select_related("carrier").iterator():
        report.accounts_checked += 1
        computed = derived.get(account.pk, ZERO)
        if account.is_carrier_account:
            if account.balance != computed:
                report.problems.append(
                    f"account #{account.pk} ({account}) holds {account.balance}, "
                    f"its transfers give {computed}"
                )
            if computed < 0:
                report.problems.append(f"account #{account.pk} ({account}) is negative")
        elif account.balance != 0:
            report.problems.append(f"system account #{account.pk} keeps a balance row")
    report.total = sum(derived.values(), ZERO)
    if report.total != 0:
        report.problems.append(f"balances add up to {report.total}, not zero")

    bad_resolutions = HoldResolution.objects.filter(
        ~Q(transfer__amount=F("hold__amount")) | ~Q(transfer__debit__kind="held")
    )
    for resolution in bad_resolutions:
        report.problems.append(f"hold #{resolution.hold_id} was resolved with a wrong transfer")
    open_holds = dict(
        Hold.objects.filter(resolution__isnull=True)
        .values("carrier")
        .annotate(s=MoneySum("amount"))
        .values_list("carrier", "s")
    )
    pending = dict(
        RefundRequest.objects.filter(status=RefundRequest.Status.REQUESTED)
        .values("carrier")
        .annotate(s=MoneySum("amount"))
        .values_list("carrier", "s")
    )
    for account in Account.objects.filter(
        kind__in=[Account.Kind.HELD, Account.Kind.REFUND_PENDING]
    ):
        expected = (open_holds if account.kind == Account.Kind.HELD else pending).get(
            account.carrier_id, ZERO
        )
        if account.balance != expected:
            report.problems.append(
                f"account #{account.pk} ({account}) holds {account.balance}, "
                f"open {'holds' if account.kind == Account.Kind.HELD else 'refunds'} "
                f"add up to {expected}"
            )
    return report
