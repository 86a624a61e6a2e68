"""Electronic receipts of the money transferred to the state budget (P5).

A receipt exists for a payment (a fee, a re-booking fee or a forfeited deposit: a ledger
`Transfer`) once the payment's budget batch is transferred (P4). It keeps the facts as they were
when it was issued (the payer's name, the plate, the registrar's details may change later) and
its PDF, made once, in the carrier's language: downloads are instant and the document never
changes. Rows are append-only: the database refuses UPDATE and DELETE.

The PDF is stored in the row (a `BinaryField`), not as a file under MEDIA_ROOT: the receipt and
its document are written in one transaction, the append-only trigger protects the document as
well as the facts, the web and the worker need no shared disk, and backups hold both. A receipt
PDF is a few tens of kilobytes; lists never load it (`defer("pdf")`).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import APPEND_ONLY
from fees.models import Service

MONEY = {"max_digits": 14, "decimal_places": 2}


class Receipt(models.Model):
    payment = models.OneToOneField(
        "deposits.Transfer",
        verbose_name=_("payment"),
        on_delete=models.PROTECT,
        related_name="receipt",
    )
    batch = models.ForeignKey(
        "fees.BudgetBatch",
        verbose_name=_("budget transfer batch"),
        on_delete=models.PROTECT,
        related_name="receipts",
    )
    carrier = models.ForeignKey(
        "carriers.Carrier",
        verbose_name=_("carrier"),
        on_delete=models.PROTECT,
        related_name="receipts",
    )
    number = models.CharField(_("receipt number"), max_length=20, unique=True)
    verification_code = models.CharField(_("verification code"), max_length=24, unique=True)
    language = models.CharField(_("language"), max_length=2, choices=settings.LANGUAGES)
    # The facts as issued.
    service = models.CharField(_("service"), max_length=12, choices=Service.choices, blank=True)
    payer_name = models.CharField(_("payer"), max_length=300)
    payer_iin_bin = models.CharField(_("payer's IIN/BIN"), max_length=12)
    booking = models.ForeignKey(
        "bookings.Booking",
        verbose_name=_("booking"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="receipts",
    )
    booking_number = models.CharField(_("booking number"), max_length=20, blank=True)
    vehicle_plate = models.CharField(_("vehicle plate"), max_length=20, blank=True)
    mrp = models.PositiveIntegerField(_("MRP count"), null=True, blank=True)
    mrp_value = models.DecimalField(_("MRP value"), null=True, blank=True, **MONEY)
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_at = models.DateTimeField(_("paid at"))
    transferred_at = models.DateTimeField(_("transferred at"))
    registrar_name = models.CharField(_("registrar"), max_length=200)
    registrar_iban = models.CharField(_("registrar's IBAN"), max_length=34)
    pdf = models.BinaryField(_("PDF"))
    pdf_sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64)
    issued_at = models.DateTimeField(_("issued at"))

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-transferred_at", "-pk"]
        indexes = [models.Index(fields=["carrier", "transferred_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="receipt_positive")
        ]
        triggers = [APPEND_ONLY]

    def __str__(self) -> str:
        return self.number

    @property
    def service_label(self) -> str:
        if self.service == Service.DEPOSIT:
            return str(_("Guarantee deposit forfeited to the budget"))
        if self.service:
            return str(self.get_service_display())
        return str(self.payment.get_kind_display())

    @property
    def payment_order_number(self) -> str:
        return self.batch.payment_order_number
