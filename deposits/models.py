"""The personal account and its double-entry ledger (P1, P2, P6; D1–D5).

Every movement of money is one `Transfer` from a debit account to a credit account with a
positive amount. An account's balance is credits minus debits, so the balances of all accounts
add up to zero by construction. Only the carrier's own accounts keep a running `balance` (it must
never go negative, which the database checks too); the registrar's system accounts are credited
by every booking in the country, so their balance is derived from transfers and no row of theirs
is ever updated (no hot row).

A guarantee deposit is a `Hold`: a transfer into the carrier's `held` account, resolved exactly
once by a `HoldResolution` (released back to `available`, or forfeited to the budget).
"""

import pgtrigger
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import APPEND_ONLY

MONEY = {"max_digits": 14, "decimal_places": 2}
# Accounts and refund requests change (balances, statuses) but are never deleted.
NO_DELETE = pgtrigger.Protect(name="no_delete", operation=pgtrigger.Delete)


class PersonalAccount(models.Model):
    """The carrier's personal account as people see it: a number to quote in bank transfers."""

    carrier = models.OneToOneField(
        "carriers.Carrier", on_delete=models.PROTECT, related_name="personal_account"
    )
    number = models.CharField(_("account number"), max_length=20, unique=True)
    opened_at = models.DateTimeField(_("opened at"))

    class Meta:
        verbose_name = _("personal account")
        verbose_name_plural = _("personal accounts")
        triggers = [NO_DELETE]

    def __str__(self) -> str:
        return f"{self.number} ({self.carrier})"


class Account(models.Model):
    class Kind(models.TextChoices):
        AVAILABLE = "available", _("Available")
        HELD = "held", _("Held (deposits)")
        REFUND_PENDING = "refund_pending", _("Refunds pending")
        BANK_INCOMING = "bank_incoming", _("Bank: incoming payments")
        FEES_PAYABLE = "fees_payable", _("Fees to transfer to the budget")
        FORFEITS_PAYABLE = "forfeits_payable", _("Forfeited deposits to transfer to the budget")
        BUDGET = "budget", _("State budget")
        BANK_PAYOUTS = "bank_payouts", _("Bank: refunds paid out")

    CARRIER_KINDS = (Kind.AVAILABLE, Kind.HELD, Kind.REFUND_PENDING)
    SYSTEM_KINDS = (
        Kind.BANK_INCOMING,
        Kind.FEES_PAYABLE,
        Kind.FORFEITS_PAYABLE,
        Kind.BUDGET,
        Kind.BANK_PAYOUTS,
    )

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    carrier = models.ForeignKey(
        "carriers.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
    )
    # Kept for carrier accounts only; always 0 for system accounts (see the module docstring).
    balance = models.DecimalField(_("balance"), default=0, **MONEY)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "kind"],
                condition=Q(carrier__isnull=False),
                name="account_once_per_carrier_kind",
            ),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(carrier__isnull=True), name="system_account_once"
            ),
            models.CheckConstraint(
                condition=(
                    Q(carrier__isnull=False, kind__in=["available", "held", "refund_pending"])
                    | Q(
                        carrier__isnull=True,
                        kind__in=[
                            "bank_incoming",
                            "fees_payable",
                            "forfeits_payable",
                            "budget",
                            "bank_payouts",
                        ],
                    )
                ),
                name="account_kind_matches_owner",
            ),
            # P2: nothing goes negative.
            models.CheckConstraint(
                condition=Q(balance__gte=0), name="account_balance_not_negative"
            ),
        ]
        triggers = [NO_DELETE]

    def __str__(self) -> str:
        owner = self.carrier.iin_bin if self.carrier_id else "registrar"
        return f"{owner}: {self.get_kind_display()}"

    @property
    def is_carrier_account(self) -> bool:
        return self.kind in self.CARRIER_KINDS


class Transfer(models.Model):
    """One movement of money (P6): never edited, never deleted."""

    class Kind(models.TextChoices):
        TOP_UP = "top_up", _("Top-up")
        FEE = "fee", _("Fee")
        REBOOKING_FEE = "rebooking_fee", _("Re-booking fee")
        FEE_REFUND = "fee_refund", _("Fee refunded")
        DEPOSIT_HOLD = "deposit_hold", _("Deposit held")
        DEPOSIT_RELEASE = "deposit_release", _("Deposit released")
        DEPOSIT_FORFEIT = "deposit_forfeit", _("Deposit forfeited")
        REFUND_REQUEST = "refund_request", _("Refund requested")
        REFUND_PAID = "refund_paid", _("Refund paid out")
        REFUND_REJECTED = "refund_rejected", _("Refund rejected")
        BUDGET_TRANSFER = "budget_transfer", _("Transfer to the budget")

    # Payments owed to the budget: each waits for its transfer (PaymentAwaitingBudget).
    BUDGET_PAYMENT_KINDS = (Kind.FEE, Kind.REBOOKING_FEE, Kind.DEPOSIT_FORFEIT)

    debit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="debits")
    credit = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="credits")
    amount = models.DecimalField(_("amount"), **MONEY)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The carrier whose personal account the transfer touches (for its statement); None for
    # movements between system accounts only.
    carrier = models.ForeignKey(
        "carriers.Carrier",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="transfers",
    )
    # What caused it, e.g. ("booking", "42") or ("statement_line", "7").
    reference_type = models.CharField(max_length=30, blank=True)
    reference_id = models.CharField(max_length=100, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        indexes = [
            models.Index(fields=["carrier", "created_at"]),
            models.Index(fields=["reference_type", "reference_id"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transfer_amount_positive"),
            models.CheckConstraint(
                condition=~Q(debit=models.F("credit")), name="transfer_between_two_accounts"
            ),
        ]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        # As `get_kind_display()`, whose look-up (the choices made hashable on every call) took
        # a tenth of a 10 000-request draw (each transfer's audit event names it).
        return f"#{self.pk} {_KIND_LABELS.get(self.kind, self.kind)} {self.amount} ₸"


_KIND_LABELS = dict(Transfer.Kind.choices)


class AccountVerified(models.Model):
    """Where `verify_ledger` last found an account consistent (P6): `balance` is what the
    transfers with id <= `through_transfer` give it (credits − debits; for a system account
    too, whose balance is otherwise only derived). No transfer after that point and up to the
    ledger's verified point (the newest `through_transfer`) touches the account, so the next
    check starts from this balance and reads only the transfers after the verified point."""

    account = models.OneToOneField(
        Account,
        on_delete=models.PROTECT,
        related_name="verified",
        verbose_name=_("ledger account"),
    )
    # The newest is the ledger's verified point: indexed so that finding it reads one entry.
    through_transfer = models.BigIntegerField(_("verified through transfer"), db_index=True)
    # A system account's balance sums every transfer of its years (all top-ups, all fees), past
    # the 14 digits that one transfer or a carrier's balance needs.
    balance = models.DecimalField(_("balance"), max_digits=20, decimal_places=2)

    class Meta:
        verbose_name = _("verified account balance")
        verbose_name_plural = _("verified account balances")

    def __str__(self) -> str:
        return f"account #{self.account_id}: {self.balance} ₸ to transfer #{self.through_transfer}"


class PaymentAwaitingBudget(models.Model):
    """A payment owed to the budget (a fee, a re-booking fee, a forfeited deposit) that is neither
    transferred nor refunded yet: the budget run's work list (P4). It is made with the payment
    and removed when a batch takes it or the fee is refunded, so finding what to transfer reads
    a day's payments, not the years of history that the transfers table holds."""

    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="awaiting_budget"
    )

    class Meta:
        verbose_name = _("payment awaiting transfer to the budget")
        verbose_name_plural = _("payments awaiting transfer to the budget")

    def __str__(self) -> str:
        return f"transfer #{self.transfer_id} awaiting the budget"


class Hold(models.Model):
    """A guarantee deposit blocked on the carrier's account (D1): a pending transfer."""

    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.PROTECT, related_name="holds")
    amount = models.DecimalField(_("amount"), **MONEY)
    transfer = models.OneToOneField(Transfer, on_delete=models.PROTECT, related_name="hold")
    reference_type = models.CharField(max_length=30, blank=True)
    reference_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("held at"))

    class Meta:
        verbose_name = _("deposit hold")
        verbose_name_plural = _("deposit holds")
        indexes = [models.Index(fields=["reference_type", "reference_id"])]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"hold #{self.pk} {self.amount} ₸"


class HoldResolution(models.Model):
    """How a hold ended; the one-to-one key makes it happen exactly once (D2–D5)."""

    class Outcome(models.TextChoices):
        RELEASED = "released", _("Released")
        FORFEITED = "forfeited", _("Forfeited")

    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="resolution")
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="hold_resolution"
    )
    resolved_at = models.DateTimeField(_("resolved at"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("deposit outcome")
        verbose_name_plural = _("deposit outcomes")
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"hold #{self.hold_id} {self.get_outcome_display()}"


class RefundRequest(models.Model):
    """The carrier asks for available money back to its bank account (P3)."""

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        PAID = "paid", _("Paid out")
        REJECTED = "rejected", _("Rejected")

    carrier = models.ForeignKey(
        "carriers.Carrier", on_delete=models.PROTECT, related_name="refund_requests"
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    iban = models.CharField(_("IBAN"), max_length=34)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"))
    request_transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="refund_request"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution_transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        related_name="refund_resolution",
        null=True,
        blank=True,
    )
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(status="requested", resolution_transfer__isnull=True)
                | Q(status__in=["paid", "rejected"], resolution_transfer__isnull=False),
                name="refund_resolved_with_a_transfer",
            ),
        ]
        triggers = [NO_DELETE]

    def __str__(self) -> str:
        return f"refund #{self.pk} {self.amount} ₸ → {self.iban} ({self.get_status_display()})"


# --- Bank statements (P1) ---------------------------------------------------------------------


class StatementImport(models.Model):
    """One bank statement file read into the ledger: who brought it, what it was, what came of it.

    Importing the same file again is allowed and moves nothing (its lines count as already
    imported); `sha256` tells the copies apart from other files."""

    file_name = models.CharField(_("file name"), max_length=255)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, db_index=True)
    format = models.CharField(_("format"), max_length=20)
    statement_id = models.CharField(_("statement"), max_length=300, blank=True)
    account_iban = models.CharField(_("account (IBAN)"), max_length=34)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("uploaded by"),
    )
    imported_at = models.DateTimeField(_("imported at"), db_index=True)
    # None while the lines are being read (or if the import stopped half-way: importing the file
    # again completes it, as every line is imported once).
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    credited = models.PositiveIntegerField(_("credited"), default=0)
    already_imported = models.PositiveIntegerField(_("already imported"), default=0)
    parked = models.PositiveIntegerField(_("parked"), default=0)
    skipped = models.PositiveIntegerField(_("skipped"), default=0)

    class Meta:
        verbose_name = _("bank statement import")
        verbose_name_plural = _("bank statement imports")
        ordering = ["-imported_at", "-pk"]
        triggers = [NO_DELETE]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.imported_at:%Y-%m-%d %H:%M})"


class StatementEntry(models.Model):
    """A credit line of a bank statement: money that arrived at the registrar's account (P1).

    The unique bank reference is what makes imports idempotent, also when two imports of the
    same file run at once. A line whose personal account is found is `credited` at once; any
    other is `parked` with the reason until an operator assigns it (`assigned`). Never deleted."""

    class Status(models.TextChoices):
        CREDITED = "credited", _("Credited")
        PARKED = "parked", _("Parked")
        ASSIGNED = "assigned", _("Assigned by an operator")

    class ParkReason(models.TextChoices):
        NO_NUMBER = "no_number", _("No personal account number in the payment details")
        SEVERAL_NUMBERS = "several_numbers", _("Several personal account numbers")
        UNKNOWN_NUMBER = "unknown_number", _("No personal account has this number")
        CURRENCY = "currency", _("Not in tenge")
        REFERENCE_USED = "reference_used", _("The bank reference was credited otherwise")

    bank_reference = models.CharField(_("bank reference"), max_length=100, unique=True)
    statement_import = models.ForeignKey(
        StatementImport,
        on_delete=models.PROTECT,
        related_name="entries",
        verbose_name=_("first imported with"),
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3)
    booked_at = models.DateTimeField(_("booked at"), null=True, blank=True)
    remittance = models.TextField(_("payment details"), blank=True)
    payer_name = models.CharField(_("payer"), max_length=300, blank=True)
    payer_iban = models.CharField(_("payer's IBAN"), max_length=64, blank=True)
    payer_bin = models.CharField(_("payer's BIN/IIN"), max_length=64, blank=True)
    raw = models.JSONField(_("as in the file"), default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    park_reason = models.CharField(
        _("why parked"), max_length=20, choices=ParkReason.choices, blank=True
    )
    carrier = models.ForeignKey(
        "carriers.Carrier",
        on_delete=models.PROTECT,
        related_name="statement_entries",
        null=True,
        blank=True,
        verbose_name=_("carrier"),
    )
    transfer = models.OneToOneField(
        Transfer,
        on_delete=models.PROTECT,
        related_name="statement_entry",
        null=True,
        blank=True,
        verbose_name=_("transfer"),
    )
    created_at = models.DateTimeField(_("imported at"), db_index=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("assigned by"),
    )
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    assign_note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="statement_entry_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(status="parked", carrier__isnull=True, transfer__isnull=True)
                | Q(
                    status__in=["credited", "assigned"],
                    carrier__isnull=False,
                    transfer__isnull=False,
                ),
                name="statement_entry_credited_with_a_transfer",
            ),
            models.CheckConstraint(
                condition=~Q(status="assigned")
                | Q(assigned_by__isnull=False, assigned_at__isnull=False),
                name="statement_entry_assigned_by_someone",
            ),
        ]
        triggers = [NO_DELETE]

    def __str__(self) -> str:
        return f"{self.bank_reference} {self.amount} {self.currency} ({self.get_status_display()})"
