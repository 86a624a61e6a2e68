"""Fees in the admin: MRP, fee schedules, and the transfers to the state budget (R2, R3, P4).

Budget accounts (KBK, KNP, the treasury's details) are kept by operators. Batches and their lines
are history: read-only, with their payment order as a file. Payments past their transfer
deadline are listed at the top of the batches list (the daily job logs them too). Refund claims
on the budget are settled here, through `fees.services.budget_refund_settle`.

Payment order file (CSV)
------------------------
"Download payment order" (a link per batch, or an action for the batches chosen) gives a CSV:
UTF-8 with a byte order mark, comma-separated, one header row, then for each batch one `order`
row (the payment order itself, its amount the batch total) followed by one `line` row per payment
in it (its amount the payment's). Line rows repeat the order's columns, so each row stands alone.
Amounts have 2 decimals and a dot; dates are ISO 8601, times with their offset (Almaty, +05:00).
A text cell a spreadsheet would run as a formula (a carrier named ``=HYPERLINK(…)``) starts with a
single quote; amounts stay numbers (`core.csv_safe`).

=================  ===========================================================================
column             meaning
=================  ===========================================================================
record             ``order`` or ``line``
order_number       the payment order number, e.g. ``PO-20260318-FEES-1``
order_date         the day of the transfer (YYYY-MM-DD)
payer_name         the registrar (REGISTRAR_NAME), who sends the order
payer_iban         the registrar's account (REGISTRAR_IBAN)
recipient_name     the budget's recipient (treasury) as in the budget account
recipient_bin      the recipient's BIN
recipient_iban     the recipient's IBAN
kbk                budget classification code
knp                payment purpose code
amount             order row: the batch total; line row: the payment
purpose            payment purpose text
payment_id         line row: the ledger transfer of the payment (fee, re-booking fee or deposit)
paid_at            line row: when the carrier paid
deadline           line row: the last day for its transfer (3 working days, P4)
carrier_iin_bin    line row: the payer's IIN/BIN
carrier_name       line row: the payer's name
booking            line row: the booking number
receipt            line row: the receipt number, once issued (P5)
=================  ===========================================================================
"""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core import clock, csv_safe
from core.admin import AuditedAdmin, ReadOnlyAdmin
from core.errors import ApplicationError
from core.money import format_tenge
from fees.models import (
    BudgetAccount,
    BudgetBatch,
    BudgetBatchLine,
    BudgetRefundClaim,
    FeeItem,
    FeeSchedule,
    MrpRate,
)
from fees.services import budget_refund_settle, overdue_payments


@admin.register(MrpRate)
class MrpRateAdmin(AuditedAdmin):
    list_display = ["year", "value"]


class FeeItemInline(admin.TabularInline):
    model = FeeItem
    extra = 0


@admin.register(FeeSchedule)
class FeeScheduleAdmin(AuditedAdmin):
    list_display = ["effective_from", "basis_en"]
    inlines = [FeeItemInline]


# --- Transfers to the state budget (P4) ---------------------------------------------------------


@admin.register(BudgetAccount)
class BudgetAccountAdmin(AuditedAdmin):
    list_display = [
        "kind",
        "budget_code",
        "purpose_code",
        "recipient_name",
        "recipient_bin",
        "recipient_iban",
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # a kind without its account would never be transferred


PAYMENT_ORDER_COLUMNS = [
    "record",
    "order_number",
    "order_date",
    "payer_name",
    "payer_iban",
    "recipient_name",
    "recipient_bin",
    "recipient_iban",
    "kbk",
    "knp",
    "amount",
    "purpose",
    "payment_id",
    "paid_at",
    "deadline",
    "carrier_iin_bin",
    "carrier_name",
    "booking",
    "receipt",
]


def _booking_label(payment) -> str:
    # bookings and receipts are above fees: imported where the page needs them.
    from bookings.models import booking_number

    if payment.reference_type == "booking" and payment.reference_id.isdigit():
        return booking_number(int(payment.reference_id))
    return ""


def payment_order_csv(batches) -> HttpResponse:
    """The payment orders of `batches` as one CSV (the layout is in the module docstring)."""
    from receipts.models import Receipt  # above fees, as bookings above

    batches = list(batches)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = batches[0].payment_order_number if len(batches) == 1 else "payment-orders"
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.write("\ufeff")  # so spreadsheet programs read it as UTF-8
    writer = csv_safe.DictWriter(response, fieldnames=PAYMENT_ORDER_COLUMNS)
    writer.writeheader()
    for batch in batches:
        order = {
            "order_number": batch.payment_order_number,
            "order_date": batch.day.isoformat(),
            "payer_name": settings.REGISTRAR_NAME,
            "payer_iban": settings.REGISTRAR_IBAN,
            "recipient_name": batch.recipient_name,
            "recipient_bin": batch.recipient_bin,
            "recipient_iban": batch.recipient_iban,
            "kbk": batch.budget_code,
            "knp": batch.purpose_code,
            "purpose": batch.purpose,
        }
        writer.writerow({"record": "order", **order, "amount": f"{batch.total:.2f}"})
        lines = batch.lines.select_related("payment__carrier").order_by("pk")
        receipts = dict(Receipt.objects.filter(batch=batch).values_list("payment_id", "number"))
        for line in lines:
            payment = line.payment
            writer.writerow(
                {
                    "record": "line",
                    **order,
                    "amount": f"{line.amount:.2f}",
                    "payment_id": payment.pk,
                    "paid_at": line.paid_at.astimezone(clock.ALMATY).isoformat(timespec="seconds"),
                    "deadline": line.deadline.isoformat(),
                    "carrier_iin_bin": payment.carrier.number_display if payment.carrier_id else "",
                    "carrier_name": payment.carrier.name if payment.carrier_id else "",
                    "booking": _booking_label(payment),
                    "receipt": receipts.get(payment.pk, ""),
                }
            )
    return response


class BudgetBatchLineInline(admin.TabularInline):
    model = BudgetBatchLine
    fields = ["payment", "carrier", "booking", "amount", "paid_at", "deadline", "receipt"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("payment__carrier", "payment__receipt")
            .order_by("pk")
        )

    @admin.display(description=_("carrier"))
    def carrier(self, line):
        return line.payment.carrier or "—"

    @admin.display(description=_("booking"))
    def booking(self, line):
        return _booking_label(line.payment) or "—"

    @admin.display(description=_("receipt"))
    def receipt(self, line):
        receipt = getattr(line.payment, "receipt", None)
        return receipt.number if receipt is not None else gettext("not issued yet")


@admin.register(BudgetBatch)
class BudgetBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "payment_order",
        "day",
        "kind",
        "budget_code",
        "line_count",
        "total_amount",
        "late_lines",
        "executed_at",
        "order_file",
    ]
    list_filter = ["kind"]
    search_fields = ["budget_code", "recipient_bin"]
    date_hierarchy = "day"
    fields = [
        "payment_order",
        "order_file",
        "kind",
        "day",
        "sequence",
        "budget_code",
        "purpose_code",
        "recipient_name",
        "recipient_bin",
        "recipient_iban",
        "purpose",
        "total",
        "line_count",
        "late_lines",
        "transfer",
        "created_at",
        "executed_at",
    ]
    readonly_fields = ["payment_order", "order_file", "late_lines"]
    inlines = [BudgetBatchLineInline]
    actions = ["download_payment_orders"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(late=Count("lines", filter=Q(lines__deadline__lt=F("day"))))
        )

    @admin.display(description=_("payment order"), ordering="day")
    def payment_order(self, batch):
        return batch.payment_order_number

    @admin.display(description=_("total"), ordering="total")
    def total_amount(self, batch):
        return format_tenge(batch.total)

    @admin.display(description=_("transferred late"), ordering="late")
    def late_lines(self, batch):
        """Payments of the batch transferred after their deadline (P4: a late batch is an
        alert)."""
        return batch.late or "—"

    @admin.display(description=_("payment order file"))
    def order_file(self, batch):
        if batch.pk is None:
            return "—"
        url = reverse("admin:fees_budgetbatch_payment_order", args=[batch.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download payment order (CSV)"))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/payment-order.csv",
                self.admin_site.admin_view(self.payment_order_view),
                name="{}_{}_payment_order".format(*info),
            ),
            *super().get_urls(),
        ]

    def payment_order_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = self.get_object(request, unquote(object_id))
        if batch is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return payment_order_csv([batch])

    @admin.action(description=_("Download payment order (CSV)"), permissions=["view"])
    def download_payment_orders(self, request, queryset):
        return payment_order_csv(queryset.order_by("day", "kind", "sequence"))

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET":
            self._warn_about_overdue_payments(request)
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _warn_about_overdue_payments(request, shown: int = 10) -> None:
        """P4: payments still waiting for the budget after their deadline are an alert."""
        overdue = overdue_payments()
        if not overdue:
            return
        items = [
            gettext("#%(payment)s %(amount)s of %(carrier)s, due by %(deadline)s")
            % {
                "payment": payment.pk,
                "amount": format_tenge(payment.amount),
                "carrier": payment.carrier.number_display if payment.carrier_id else "—",
                "deadline": deadline.strftime("%d.%m.%Y"),
            }
            for payment, deadline in overdue[:shown]
        ]
        if len(overdue) > shown:
            items.append(gettext("and %(count)s more") % {"count": len(overdue) - shown})
        messages.error(
            request,
            ngettext(
                "%(count)s payment is past its deadline for the transfer to the state budget: "
                "%(list)s. Run the transfer now.",
                "%(count)s payments are past their deadline for the transfer to the state "
                "budget: %(list)s. Run the transfer now.",
                len(overdue),
            )
            % {"count": len(overdue), "list": "; ".join(items)},
        )


@admin.register(BudgetRefundClaim)
class BudgetRefundClaimAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "carrier",
        "fee",
        "amount",
        "reason",
        "status",
        "settled_at",
        "settled_by",
    ]
    list_filter = ["status"]
    search_fields = ["carrier__name", "carrier__iin_bin", "carrier__tax_number", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["carrier", "fee", "settled_by"]
    actions = ["settle"]

    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("fees.change_budgetrefundclaim")

    @admin.action(
        description=_("Settle: the budget returned the money, credit the carrier"),
        permissions=["settle"],
    )
    def settle(self, request, queryset):
        claims = list(queryset.order_by("pk"))
        pending = [c for c in claims if c.status == BudgetRefundClaim.Status.PENDING]
        done = 0
        for claim in pending:
            try:
                budget_refund_settle(claim=claim, actor=request.user)
            except ApplicationError as refusal:
                messages.error(request, f"#{claim.pk}: {refusal.message}")
            else:
                done += 1
        if done:
            messages.success(
                request,
                ngettext(
                    "%(count)s claim settled: the carrier's available balance is credited.",
                    "%(count)s claims settled: the carriers' available balances are credited.",
                    done,
                )
                % {"count": done},
            )
        left_alone = len(claims) - len(pending)
        if left_alone:
            messages.warning(
                request,
                ngettext(
                    "%(count)s claim was already settled and left as it was.",
                    "%(count)s claims were already settled and left as they were.",
                    left_alone,
                )
                % {"count": left_alone},
            )
