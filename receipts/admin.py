"""Receipts in the admin (P5): read-only, with their PDF as issued."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import ReadOnlyAdmin
from receipts.archive import pdf_response
from receipts.models import Receipt


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "transferred_at",
        "carrier",
        "service",
        "booking_number",
        "vehicle_plate",
        "amount",
        "batch",
        "language",
        "pdf_link",
    ]
    list_filter = ["service", "language"]
    search_fields = [
        "number",
        "verification_code",
        "booking_number",
        "vehicle_plate",
        "payer_name",
        "payer_iin_bin",
    ]
    date_hierarchy = "transferred_at"
    list_select_related = ["carrier", "batch"]
    readonly_fields = ["pdf_link"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("pdf")

    @admin.display(description=_("PDF"))
    def pdf_link(self, receipt):
        if receipt.pk is None:
            return "—"
        url = reverse("admin:receipts_receipt_pdf", args=[receipt.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download"))

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="{}_{}_pdf".format(*info),
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        receipt = self.get_object(request, unquote(object_id))
        if receipt is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        return pdf_response(receipt)
