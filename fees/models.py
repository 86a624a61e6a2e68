from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.i18n import localized
from core.models import APPEND_ONLY


class Service(models.TextChoices):
    """What a fee is charged for (R3)."""

    REGULAR = "regular", _("Regular queue")
    ACCELERATED = "accelerated", _("Accelerated passage")
    OUT_OF_TURN = "out_of_turn", _("Out-of-turn passage")
    REBOOKING = "rebooking", _("Re-booking")
    DEPOSIT = "deposit", _("Guarantee deposit")


class MrpRate(models.Model):
    """The monthly calculation index (MRP) of a calendar year, in tenge (R2)."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    value = models.DecimalField(
        _("MRP, tenge"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        verbose_name = _("MRP")
        verbose_name_plural = _("MRP by year")
        ordering = ["-year"]
        constraints = [models.CheckConstraint(condition=models.Q(value__gt=0), name="mrp_positive")]

    def __str__(self) -> str:
        return f"{self.year}: {self.value} ₸"


class MrpRefusals(models.Model):
    """How many charges were refused because the MRP of their year was not entered (R2): the
    number the operators see beside the warning, so they know what the gap cost."""

    year = models.PositiveSmallIntegerField(_("year"), primary_key=True)
    count = models.PositiveIntegerField(_("charges refused"), default=0)
    first_at = models.DateTimeField(_("first refused at"))
    last_at = models.DateTimeField(_("last refused at"))

    class Meta:
        verbose_name = _("charges refused for a missing MRP")
        verbose_name_plural = _("charges refused for a missing MRP")

    def __str__(self) -> str:
        return f"{self.year}: {self.count}"


class FeeSchedule(models.Model):
    """The fees in MRP in force from a date, with their legal basis (R3)."""

    effective_from = models.DateField(_("in force from"), unique=True)
    basis_en = models.TextField(_("legal basis (English)"))
    basis_ru = models.TextField(_("legal basis (Russian)"))
    basis_kk = models.TextField(_("legal basis (Kazakh)"))

    class Meta:
        verbose_name = _("fee schedule")
        verbose_name_plural = _("fee schedules")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return str(_("Fees in force from %(date)s") % {"date": self.effective_from})

    @property
    def basis(self) -> str:
        return localized(self, "basis")


class FeeItem(models.Model):
    schedule = models.ForeignKey(FeeSchedule, on_delete=models.CASCADE, related_name="items")
    service = models.CharField(_("service"), max_length=12, choices=Service.choices)
    mrp = models.PositiveIntegerField(_("MRP count"))

    class Meta:
        verbose_name = _("fee")
        verbose_name_plural = _("fees")
        constraints = [
            models.UniqueConstraint(fields=["schedule", "service"], name="fee_item_once")
        ]

    def __str__(self) -> str:
        return f"{self.get_service_display()}: {self.mrp} MRP"


class BudgetAccount(models.Model):
    """Where one kind of money goes in the state budget (P4): the budget classification code
    (KBK), the payment purpose code (KNP) and the treasury's details. Operators keep them."""

    class Kind(models.TextChoices):
        FEES = "fees", _("Fees")
        FORFEITS = "forfeits", _("Forfeited deposits")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, unique=True)
    budget_code = models.CharField(_("budget classification code (KBK)"), max_length=6)
    purpose_code = models.CharField(_("payment purpose code (KNP)"), max_length=3)
    recipient_name = models.CharField(_("recipient"), max_length=200)
    recipient_bin = models.CharField(_("recipient BIN"), max_length=12)
    recipient_iban = models.CharField(_("recipient IBAN"), max_length=34)
    purpose = models.CharField(_("payment purpose text"), max_length=200)

    class Meta:
        verbose_name = _("budget account")
        verbose_name_plural = _("budget accounts")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: KBK {self.budget_code}"


class BudgetBatch(models.Model):
    """Payments of one kind transferred to the budget together, with their payment order (P4)."""

    kind = models.CharField(_("kind"), max_length=10, choices=BudgetAccount.Kind.choices)
    day = models.DateField(_("day"))
    sequence = models.PositiveSmallIntegerField(_("batch of the day"), default=1)
    budget_code = models.CharField(_("KBK"), max_length=6)
    purpose_code = models.CharField(_("KNP"), max_length=3)
    recipient_name = models.CharField(_("recipient"), max_length=200)
    recipient_bin = models.CharField(_("recipient BIN"), max_length=12)
    recipient_iban = models.CharField(_("recipient IBAN"), max_length=34)
    purpose = models.CharField(_("payment purpose"), max_length=300)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2)
    line_count = models.PositiveIntegerField(_("payments"))
    transfer = models.OneToOneField(
        "deposits.Transfer", on_delete=models.PROTECT, related_name="budget_batch"
    )
    created_at = models.DateTimeField(_("created at"))
    executed_at = models.DateTimeField(_("executed at"))

    class Meta:
        verbose_name = _("budget transfer batch")
        verbose_name_plural = _("budget transfer batches")
        ordering = ["-day", "kind", "-sequence"]
        constraints = [
            models.UniqueConstraint(fields=["day", "kind", "sequence"], name="budget_batch_once"),
            models.CheckConstraint(condition=models.Q(total__gt=0), name="budget_batch_positive"),
        ]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return self.payment_order_number

    @property
    def payment_order_number(self) -> str:
        return f"PO-{self.day:%Y%m%d}-{self.kind.upper()}-{self.sequence}"


class BudgetBatchLine(models.Model):
    """One payment in a batch; the one-to-one on the payment puts it in exactly one batch."""

    batch = models.ForeignKey(BudgetBatch, on_delete=models.PROTECT, related_name="lines")
    payment = models.OneToOneField(
        "deposits.Transfer", on_delete=models.PROTECT, related_name="budget_line"
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    paid_at = models.DateTimeField(_("paid at"))
    deadline = models.DateField(_("transfer deadline"))

    class Meta:
        verbose_name = _("budget transfer line")
        verbose_name_plural = _("budget transfer lines")
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return f"{self.batch}: {self.amount}"


class BudgetRefundClaim(models.Model):
    """A fee refunded after it went to the budget (C3, P4): a claim on the budget that an
    operator settles; the carrier gets the money when it is settled."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SETTLED = "settled", _("Settled")

    fee = models.OneToOneField(
        "deposits.Transfer", on_delete=models.PROTECT, related_name="budget_refund_claim"
    )
    carrier = models.ForeignKey("carriers.Carrier", on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("created at"))
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by = models.ForeignKey(
        "auth2fa.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    settlement = models.OneToOneField(
        "deposits.Transfer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="budget_refund_settlement",
    )

    class Meta:
        verbose_name = _("refund claim on the budget")
        verbose_name_plural = _("refund claims on the budget")

    def __str__(self) -> str:
        return f"{self.amount} ₸ ({self.get_status_display()})"
