"""Reads of the ledger: balances, statements, and the checks of `verify_ledger` (P6), whose
record of how far the ledger was found consistent is written by deposits.services.ledger_verify."""

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal

from django.db.models import CharField, Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat

from carriers.models import Carrier
from core.money import MoneySum
from deposits.models import (
    Account,
    AccountVerified,
    Hold,
    HoldResolution,
    PaymentAwaitingBudget,
    PersonalAccount,
    RefundRequest,
    Transfer,
)

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


def available_balances(carrier_ids: list[int]) -> dict[int, Decimal]:
    """What each carrier can spend now (P2), in one read."""
    rows = Account.objects.filter(
        carrier_id__in=carrier_ids, kind=Account.Kind.AVAILABLE
    ).values_list("carrier_id", "balance")
    found = dict(rows)
    return {pk: found.get(pk, ZERO) for pk in carrier_ids}


def accounts_by_carrier(carrier_ids: list[int], *kinds: str) -> dict[int, dict[str, Account]]:
    """`accounts_by_kind` for many carriers in one read: by carrier, the accounts of `kinds`
    that exist (the system ones under every carrier)."""
    carrier_kinds = [kind for kind in kinds if kind in Account.CARRIER_KINDS]
    system_kinds = [kind for kind in kinds if kind not in Account.CARRIER_KINDS]
    found: dict[int, dict[str, Account]] = {pk: {} for pk in carrier_ids}
    system: dict[str, Account] = {}
    accounts = Account.objects.filter(
        Q(carrier_id__in=carrier_ids, kind__in=carrier_kinds)
        | Q(carrier__isnull=True, kind__in=system_kinds)
    ).order_by("pk")
    for account in accounts:
        if account.carrier_id is None:
            system.setdefault(account.kind, account)
        else:
            found[account.carrier_id].setdefault(account.kind, account)
    for by_kind in found.values():
        by_kind.update(system)
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
    # The sum of every balance (full), or of the movements since #since_transfer: zero.
    total: Decimal = ZERO
    problems: list[str] = dataclasses.field(default_factory=list)
    # Full: every balance from the first transfer; otherwise the transfers after
    # #since_transfer and the accounts they touched.
    full: bool = True
    since_transfer: int = 0
    # Where `ledger_verify` recorded the ledger as verified (0 from `ledger_check`).
    through_transfer: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[str], None]
# Transfers are summed in id ranges of this size: each query stays short, and a long run says
# how far it is.
TRANSFER_CHUNK = 100_000
# Ids per IN list (SQLite caps the parameters of one statement).
IDS_PER_QUERY = 5_000


def _in_chunks(ids: Iterable[int], size: int = IDS_PER_QUERY) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclasses.dataclass
class _Movements:
    """Credits − debits per account of the transfers after an id: of all those visible, and of
    those up to the watermark (the balances recorded as verified)."""

    visible: dict[int, Decimal]
    through: dict[int, Decimal]
    transfers: int


def _movements(*, after: int, through: int | None, progress: Progress | None) -> _Movements:
    visible: dict[int, Decimal] = defaultdict(lambda: ZERO)
    upto: dict[int, Decimal] = defaultdict(lambda: ZERO)
    count = 0
    ids = Transfer.objects.filter(pk__gt=after).aggregate(first=Min("pk"), last=Max("pk"))
    last = ids["last"] or after
    low = ids["first"] - 1 if ids["first"] is not None else after
    while low < last:
        high = min(low + TRANSFER_CHUNK, last)
        chunk = Transfer.objects.filter(pk__gt=low, pk__lte=high)
        limit = high if through is None else through
        for side, sign in (("credit", 1), ("debit", -1)):
            rows = (
                chunk.values(side)
                .annotate(
                    s=MoneySum("amount"),
                    upto=MoneySum("amount", filter=Q(pk__lte=limit)),
                    n=Count("pk"),
                )
                .values_list(side, "s", "upto", "n")
            )
            for account_id, amount, amount_upto, n in rows:
                visible[account_id] += sign * amount
                if amount_upto is not None:
                    upto[account_id] += sign * amount_upto
                if side == "credit":
                    count += n
        if progress is not None and last - ids["first"] >= TRANSFER_CHUNK:
            progress(f"… transfers #{low + 1}–#{high}: {count} summed")
        low = high
    return _Movements(visible=dict(visible), through=dict(upto), transfers=count)


def _compare(report: LedgerReport, account: Account, computed: Decimal) -> None:
    """The account's stored balance against what its transfers give it."""
    report.accounts_checked += 1
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


def _resolutions_check(report: LedgerReport, *, after: int) -> None:
    """Every hold resolved (by a transfer after #after) with its own amount out of `held`."""
    bad_resolutions = HoldResolution.objects.filter(transfer_id__gt=after).filter(
        ~Q(transfer__amount=F("hold__amount")) | ~Q(transfer__debit__kind="held")
    )
    for resolution in bad_resolutions:
        report.problems.append(f"hold #{resolution.hold_id} was resolved with a wrong transfer")


def _per_carrier(rows: QuerySet, carriers: list[int] | None) -> dict[int, Decimal]:
    """The amounts of `rows` summed per carrier; of `carriers` only unless None."""
    selections = (
        [rows]
        if carriers is None
        else [rows.filter(carrier_id__in=chunk) for chunk in _in_chunks(carriers)]
    )
    sums: dict[int, Decimal] = {}
    for selected in selections:
        sums.update(
            selected.values("carrier").annotate(s=MoneySum("amount")).values_list("carrier", "s")
        )
    return sums


def _holds_and_refunds_check(
    report: LedgerReport, accounts: Iterable[Account], *, every_carrier: bool
) -> None:
    """Held / pending balances of `accounts` against the open holds / refunds behind them."""
    accounts = [
        account
        for account in accounts
        if account.kind in (Account.Kind.HELD, Account.Kind.REFUND_PENDING)
    ]
    carriers = None if every_carrier else sorted({account.carrier_id for account in accounts})
    open_holds = _per_carrier(Hold.objects.filter(resolution__isnull=True), carriers)
    pending = _per_carrier(
        RefundRequest.objects.filter(status=RefundRequest.Status.REQUESTED), carriers
    )
    for account in accounts:
        expected = (open_holds if account.kind == Account.Kind.HELD else pending).get(
            account.carrier_id, ZERO
        )
        if account.balance != expected:
            report.problems.append(
                f"account #{account.pk} ({account}) holds {account.balance}, "
                f"open {'holds' if account.kind == Account.Kind.HELD else 'refunds'} "
                f"add up to {expected}"
            )


def _work_list_check(report: LedgerReport) -> None:
    """No payment on the budget's work list was transferred (a batch line) or refunded (P4):
    the list is a day's size, whatever the history."""
    refund_key = Concat(Value("fee_refund:"), Cast(OuterRef("transfer_id"), CharField()))
    listed = (
        PaymentAwaitingBudget.objects.annotate(
            in_batch=Exists(
                Transfer.objects.filter(pk=OuterRef("transfer_id"), budget_line__isnull=False)
            ),
            refunded=Exists(Transfer.objects.filter(idempotency_key=refund_key)),
        )
        .filter(Q(in_batch=True) | Q(refunded=True))
        .values_list("transfer_id", "in_batch")
        .order_by("transfer_id")
    )
    for transfer_id, in_batch in listed:
        done = "is in a budget transfer" if in_batch else "was refunded"
        report.problems.append(f"payment #{transfer_id} waits for the budget but {done}")


def _check_every_account(report: LedgerReport, moves: _Movements) -> dict[int, Decimal]:
    """The full check of what `moves` (every transfer) gives; returns every account's balance
    through the watermark."""
    balances: dict[int, Decimal] = {}
    for account in Account.objects.select_related("carrier").order_by("pk").iterator(2000):
        _compare(report, account, moves.visible.get(account.pk, ZERO))
        balances[account.pk] = moves.through.get(account.pk, ZERO)
    report.total = sum(moves.visible.values(), ZERO)
    if report.total != 0:
        report.problems.append(f"balances add up to {report.total}, not zero")
    _resolutions_check(report, after=0)
    _holds_and_refunds_check(
        report,
        Account.objects.filter(kind__in=[Account.Kind.HELD, Account.Kind.REFUND_PENDING]),
        every_carrier=True,
    )
    _work_list_check(report)
    return balances


def _check_touched_accounts(
    report: LedgerReport, moves: _Movements, *, after: int
) -> dict[int, Decimal]:
    """The check of the accounts that `moves` (the transfers after #after) touched, from the
    balances verified through #after; returns the new balances through the watermark of those
    it touched up to there. An account with no verified balance has no transfer up to #after
    (it was opened later), so it starts from zero."""
    accounts: list[Account] = []
    for ids in _in_chunks(sorted(moves.visible)):
        accounts += (
            Account.objects.filter(pk__in=ids)
            .select_related("carrier")
            .annotate(verified_balance=F("verified__balance"))
        )
    verified = {account.pk: account.verified_balance or ZERO for account in accounts}
    for account in accounts:
        _compare(report, account, verified[account.pk] + moves.visible[account.pk])
    # The movements since #after add up to zero as every transfer does (the balances before
    # them did when they were verified).
    report.total = sum(moves.visible.values(), ZERO)
    if report.total != 0:
        report.problems.append(f"the transfers since #{after} add up to {report.total}, not zero")
    _resolutions_check(report, after=after)
    _holds_and_refunds_check(report, accounts, every_carrier=False)
    _work_list_check(report)
    return {pk: verified.get(pk, ZERO) + amount for pk, amount in moves.through.items()}


def ledger_check() -> LedgerReport:
    """Recompute every balance from the transfers (P6): stored carrier balances must match, all
    balances must add up to zero, every hold is open or resolved once with its own amount,
    held / pending balances equal the open holds / refunds behind them, and no payment waiting
    for the budget was transferred or refunded. Reads only, in the caller's transaction: the
    whole ledger as it stands (`ledger_verify` runs it in one snapshot and records it)."""
    report = LedgerReport()
    moves = _movements(after=0, through=None, progress=None)
    report.transfers = moves.transfers
    _check_every_account(report, moves)
    return report


VERIFIED_ACTION = "ledger.verified"


def verified_point() -> int | None:
    """The transfer id up to which the ledger was last verified consistent; None before the
    first verification."""
    return AccountVerified.objects.aggregate(point=Max("through_transfer"))["point"]


def ledger_examine(
    *, watermark: int, full: bool = False, progress: Progress | None = None
) -> tuple[LedgerReport, dict[int, Decimal]]:
    """The check of `verify_ledger` (P6), from the point the last consistent check reached
    (`verified_point`): the accounts that the transfers since then touched must hold their
    verified balance plus those transfers, as must the held / pending balances behind them;
    the resolutions since then and the budget's work list are checked too. Proportional to the
    transfers since that point; an account no transfer touched since is trusted as verified
    (`full`, and the first run, check every account from the first transfer). Returns the report
    and the balances through `watermark` of the accounts it checked; read in one snapshot
    (deposits.services.ledger_verify)."""
    since = None if full else verified_point()
    # A point recorded by a run that took its watermark after this one is as exact.
    through = max(watermark, since or 0)
    moves = _movements(after=since or 0, through=through, progress=progress)
    report = LedgerReport(
        transfers=moves.transfers,
        full=since is None,
        since_transfer=since or 0,
        through_transfer=through,
    )
    if since is None:
        balances = _check_every_account(report, moves)
    else:
        balances = _check_touched_accounts(report, moves, after=since)
    return report, balances
