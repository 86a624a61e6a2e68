"""The registrar's side of the personal accounts (P1–P3, P6): bank statements, parked payments,
refunds, and the ledger to read.

Nothing here writes a model: uploads, assignments and refund decisions call the services, which
own their transactions and audit events. Money, statuses and the ledger are read-only; the
permissions of the role groups (auth2fa.roles) decide who may upload, assign and resolve.
"""

import hashlib
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from carriers.models import Carrier
from core.admin import ReadOnlyAdmin
from core.errors import ApplicationError
from core.money import MoneySum, format_tenge
from deposits import services
from deposits.forms import StatementUploadForm, statement_max_bytes
from deposits.models import (
    Account,
    Hold,
    HoldResolution,
    PersonalAccount,
    RefundRequest,
    StatementEntry,
    StatementImport,
    Transfer,
)
from deposits.selectors import system_balance
from deposits.statements import normalize_personal_account_number

# --- Bank statements ------------------------------------------------------------------------


def _import_counts(statement_import: StatementImport) -> str:
    return gettext(
        "%(credited)s credited, %(already)s already imported, %(parked)s parked, "
        "%(skipped)s skipped."
    ) % {
        "credited": statement_import.credited,
        "already": statement_import.already_imported,
        "parked": statement_import.parked,
        "skipped": statement_import.skipped,
    }


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    list_display = [
        "imported_at",
        "file_name",
        "format",
        "statement_id",
        "credited",
        "already_imported",
        "parked",
        "skipped",
        "uploaded_by",
        "finished",
    ]
    search_fields = ["file_name", "statement_id", "sha256"]
    date_hierarchy = "imported_at"
    list_select_related = ["uploaded_by"]
    fields = [
        "file_name",
        "sha256",
        "format",
        "statement_id",
        "account_iban",
        "uploaded_by",
        "imported_at",
        "finished_at",
        "credited",
        "already_imported",
        "parked",
        "skipped",
        "lines",
    ]
    readonly_fields = ["lines"]

    @admin.display(boolean=True, description=_("finished"))
    def finished(self, obj):
        return obj.finished_at is not None

    @admin.display(description=_("lines first imported with this file"))
    def lines(self, obj):
        url = reverse("admin:deposits_statemententry_changelist")
        count = obj.entries.count()
        return format_html(
            '<a href="{}?statement_import__exact={}">{}</a>',
            url,
            obj.pk,
            ngettext("%(count)s line", "%(count)s lines", count) % {"count": count},
        )

    def has_upload_permission(self, request) -> bool:
        return request.user.has_perm("deposits.add_statementimport")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="{}_{}_upload".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_upload": self.has_upload_permission(request),
            "upload_url": reverse("admin:deposits_statementimport_upload"),
        }
        return super().changelist_view(request, extra_context)

    def upload_view(self, request):
        """Upload a statement file: the service imports it, the page says what came of it."""
        if not self.has_upload_permission(request):
            raise PermissionDenied
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            # The form refused anything larger, unread; the service checks the bytes again.
            data = upload.read(statement_max_bytes() + 1)
            earlier = (
                StatementImport.objects.filter(sha256=hashlib.sha256(data).hexdigest())
                .order_by("imported_at")
                .first()
            )
            try:
                statement_import = services.bank_statement_import(
                    data=data,
                    filename=upload.name,
                    actor=request.user,
                    max_bytes=statement_max_bytes(),
                )
            except ApplicationError as refusal:
                form.add_error("file", refusal.message)
            else:
                messages.success(
                    request,
                    gettext("Statement %(file)s imported: %(counts)s")
                    % {
                        "file": statement_import.file_name,
                        "counts": _import_counts(statement_import),
                    },
                )
                if earlier is not None:
                    messages.info(
                        request,
                        gettext("This same file was imported before, on %(when)s.")
                        % {
                            "when": formats.date_format(
                                timezone.localtime(earlier.imported_at), "SHORT_DATETIME_FORMAT"
                            )
                        },
                    )
                if statement_import.parked:
                    messages.warning(
                        request,
                        ngettext(
                            "%(count)s payment was parked: assign it to a personal account.",
                            "%(count)s payments were parked: assign them to personal accounts.",
                            statement_import.parked,
                        )
                        % {"count": statement_import.parked},
                    )
                return HttpResponseRedirect(
                    reverse("admin:deposits_statementimport_change", args=[statement_import.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Upload a bank statement"),
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "registrar_iban": settings.REGISTRAR_IBAN,
        }
        return TemplateResponse(request, "admin/deposits/statementimport/upload.html", context)


class AssignForm(forms.Form):
    """Whose personal account a parked payment goes to: by the account number or the carrier's
    IIN/BIN (one of them)."""

    account_number = forms.CharField(
        label=_("Personal account number"), required=False, max_length=64
    )
    iin_bin = forms.CharField(
        label=_("or the carrier's IIN/BIN (tax number for a carrier from abroad)"),
        required=False,
        max_length=32,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=300,
        help_text=_("Why this account, e.g. the payer's letter."),
    )

    def clean(self):
        cleaned = super().clean()
        number_text = (cleaned.get("account_number") or "").strip()
        iin_bin = (cleaned.get("iin_bin") or "").strip()
        if bool(number_text) == bool(iin_bin):
            raise ValidationError(
                _("Give either the personal account number or the carrier's IIN/BIN.")
            )
        if number_text:
            number = normalize_personal_account_number(number_text)
            personal = (
                PersonalAccount.objects.select_related("carrier").filter(number=number).first()
                if number
                else None
            )
            if personal is None:
                self.add_error(
                    "account_number",
                    _("No personal account has the number %(number)s.") % {"number": number_text},
                )
                return cleaned
            cleaned["carrier"] = personal.carrier
            cleaned["number"] = personal.number
        else:
            # A carrier from abroad has no IIN/BIN but its national tax number (A7); two
            # countries may issue the same number, and then only the account number decides.
            carriers = list(Carrier.objects.filter(Q(iin_bin=iin_bin) | Q(tax_number=iin_bin))[:2])
            if not carriers:
                self.add_error(
                    "iin_bin", _("No carrier has the IIN/BIN %(iin_bin)s.") % {"iin_bin": iin_bin}
                )
                return cleaned
            if len(carriers) > 1:
                self.add_error(
                    "iin_bin",
                    _(
                        "Carriers of several countries have the tax number %(iin_bin)s: give the "
                        "personal account number instead."
                    )
                    % {"iin_bin": iin_bin},
                )
                return cleaned
            carrier = carriers[0]
            cleaned["carrier"] = carrier
            cleaned["number"] = (
                PersonalAccount.objects.filter(carrier=carrier)
                .values_list("number", flat=True)
                .first()
                or ""
            )
        return cleaned


@admin.register(StatementEntry)
class StatementEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "bank_reference",
        "booked_at",
        "amount",
        "currency",
        "payer_name",
        "status",
        "park_reason",
        "carrier",
        "created_at",
    ]
    list_filter = ["status", "park_reason", "currency"]
    search_fields = ["bank_reference", "remittance", "payer_name", "payer_iban", "payer_bin"]
    date_hierarchy = "created_at"
    list_select_related = ["carrier"]

    def has_assign_permission(self, request) -> bool:
        return request.user.has_perm("deposits.change_statemententry")

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/assign/",
                self.admin_site.admin_view(self.assign_view),
                name="{}_{}_assign".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        entry = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if (
            entry is not None
            and entry.status == StatementEntry.Status.PARKED
            and self.has_assign_permission(request)
        ):
            extra_context["assign_url"] = reverse(
                "admin:deposits_statemententry_assign", args=[entry.pk]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def assign_view(self, request, object_id):
        """Credit a parked payment to the personal account an operator names: a form, then a
        confirmation naming the carrier and the amount."""
        if not self.has_assign_permission(request):
            raise PermissionDenied
        entry = self.get_object(request, unquote(object_id))
        if entry is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = reverse("admin:deposits_statemententry_change", args=[entry.pk])
        if entry.status != StatementEntry.Status.PARKED:
            messages.error(
                request,
                gettext("This bank statement line was already credited (%(status)s).")
                % {"status": entry.get_status_display().lower()},
            )
            return HttpResponseRedirect(change_url)
        form = AssignForm(request.POST or None)
        confirming = False
        if request.method == "POST" and form.is_valid():
            if "confirm" in request.POST:
                carrier = form.cleaned_data["carrier"]
                try:
                    services.parked_entry_assign(
                        entry=entry,
                        carrier=carrier,
                        actor=request.user,
                        note=form.cleaned_data["note"],
                    )
                except ApplicationError as refusal:
                    messages.error(request, refusal.message)
                else:
                    messages.success(
                        request,
                        gettext("%(amount)s credited to %(carrier)s.")
                        % {"amount": format_tenge(entry.amount), "carrier": carrier},
                    )
                return HttpResponseRedirect(change_url)
            confirming = True
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Assign to a personal account"),
            "opts": self.opts,
            "original": entry,
            "entry": entry,
            "amount": format_tenge(entry.amount),
            "form": form,
            "confirming": confirming,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/deposits/statemententry/assign.html", context)


# --- Refunds (P3) ---------------------------------------------------------------------------


class RefundResolutionForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=300)

    def __init__(self, *args, note_required: bool, note_label=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = note_required
        if note_label is not None:
            self.fields["note"].label = note_label


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "requested_at",
        "carrier",
        "amount",
        "iban",
        "status",
        "resolved_at",
        "resolved_by",
    ]
    list_filter = ["status"]
    search_fields = ["iban", "carrier__name", "carrier__iin_bin", "carrier__tax_number"]
    date_hierarchy = "requested_at"
    list_select_related = ["carrier", "resolved_by"]
    actions = ["mark_paid", "reject"]

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("deposits.change_refundrequest")

    @admin.action(description=_("Mark paid"), permissions=["resolve"])
    def mark_paid(self, request, queryset):
        return self._resolve(
            request,
            queryset,
            paid=True,
            form=RefundResolutionForm(
                request.POST if "apply" in request.POST else None,
                note_required=False,
                note_label=_("Payment order number (optional)"),
            ),
        )

    @admin.action(description=_("Reject"), permissions=["resolve"])
    def reject(self, request, queryset):
        return self._resolve(
            request,
            queryset,
            paid=False,
            form=RefundResolutionForm(
                request.POST if "apply" in request.POST else None,
                note_required=True,
                note_label=_("Reason (the carrier sees it)"),
            ),
        )

    def _resolve(self, request, queryset, *, paid: bool, form: RefundResolutionForm):
        """An intermediate page lists the refunds and asks for the note (a reason, to reject);
        applying it calls the service for each refund still requested."""
        refunds = list(queryset.select_related("carrier").order_by("pk"))
        open_refunds = [r for r in refunds if r.status == RefundRequest.Status.REQUESTED]
        if "apply" in request.POST and form.is_valid():
            resolve = services.refund_mark_paid if paid else services.refund_reject
            done = 0
            for refund in open_refunds:
                try:
                    resolve(refund=refund, actor=request.user, note=form.cleaned_data["note"])
                except ApplicationError as refusal:
                    messages.error(request, f"#{refund.pk}: {refusal.message}")
                else:
                    done += 1
            if done:
                messages.success(
                    request,
                    (
                        ngettext(
                            "%(count)s refund marked paid.", "%(count)s refunds marked paid.", done
                        )
                        if paid
                        else ngettext(
                            "%(count)s refund rejected.", "%(count)s refunds rejected.", done
                        )
                    )
                    % {"count": done},
                )
            left_alone = len(refunds) - len(open_refunds)
            if left_alone:
                messages.warning(
                    request,
                    ngettext(
                        "%(count)s refund was already resolved and left as it was.",
                        "%(count)s refunds were already resolved and left as they were.",
                        left_alone,
                    )
                    % {"count": left_alone},
                )
            return None
        total = sum((r.amount for r in open_refunds), Decimal("0.00"))
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Mark refunds paid") if paid else gettext("Reject refunds"),
            "opts": self.opts,
            "refunds": refunds,
            "open_refunds": open_refunds,
            "total": format_tenge(total),
            "form": form,
            "paid": paid,
            "action": "mark_paid" if paid else "reject",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/deposits/refundrequest/resolve.html", context)


# --- The ledger, to read (P2, P6) ---------------------------------------------------------


@admin.register(PersonalAccount)
class PersonalAccountAdmin(ReadOnlyAdmin):
    list_display = ["number", "carrier", "opened_at", "available", "held", "refund_pending"]
    search_fields = ["number", "carrier__name", "carrier__iin_bin", "carrier__tax_number"]
    list_select_related = ["carrier"]
    date_hierarchy = "opened_at"

    def get_queryset(self, request):
        balance = "carrier__ledger_accounts__balance"
        kind = "carrier__ledger_accounts__kind"
        return (
            super()
            .get_queryset(request)
            .annotate(
                available_balance=MoneySum(balance, filter=Q(**{kind: Account.Kind.AVAILABLE})),
                held_balance=MoneySum(balance, filter=Q(**{kind: Account.Kind.HELD})),
                refund_pending_balance=MoneySum(
                    balance, filter=Q(**{kind: Account.Kind.REFUND_PENDING})
                ),
            )
        )

    @admin.display(description=_("available"), ordering="available_balance")
    def available(self, obj):
        return format_tenge(obj.available_balance or 0)

    @admin.display(description=_("held (deposits)"), ordering="held_balance")
    def held(self, obj):
        return format_tenge(obj.held_balance or 0)

    @admin.display(description=_("refunds pending"), ordering="refund_pending_balance")
    def refund_pending(self, obj):
        return format_tenge(obj.refund_pending_balance or 0)


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "carrier", "current_balance"]
    list_filter = ["kind"]
    search_fields = ["carrier__name", "carrier__iin_bin", "carrier__tax_number"]
    list_select_related = ["carrier"]

    @admin.display(description=_("balance"))
    def current_balance(self, obj):
        # The registrar's accounts keep no balance row: theirs comes from their transfers.
        if obj.is_carrier_account:
            return format_tenge(obj.balance)
        return format_tenge(system_balance(obj.kind))


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "kind",
        "amount",
        "debit",
        "credit",
        "carrier",
        "reference",
        "description",
    ]
    list_filter = ["kind"]
    search_fields = [
        "idempotency_key",
        "reference_id",
        "description",
        "carrier__name",
        "carrier__iin_bin",
        "carrier__tax_number",
    ]
    date_hierarchy = "created_at"
    list_select_related = ["carrier", "debit__carrier", "credit__carrier"]

    @admin.display(description=_("reference"))
    def reference(self, obj):
        return f"{obj.reference_type}:{obj.reference_id}" if obj.reference_type else ""


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "carrier", "amount", "reference", "outcome"]
    search_fields = ["reference_id", "carrier__name", "carrier__iin_bin", "carrier__tax_number"]
    date_hierarchy = "created_at"
    list_select_related = ["carrier", "resolution"]

    @admin.display(description=_("reference"))
    def reference(self, obj):
        return f"{obj.reference_type}:{obj.reference_id}" if obj.reference_type else ""

    @admin.display(description=_("outcome"))
    def outcome(self, obj):
        resolution = getattr(obj, "resolution", None)
        return resolution.get_outcome_display() if resolution is not None else gettext("held")


@admin.register(HoldResolution)
class HoldResolutionAdmin(ReadOnlyAdmin):
    list_display = ["hold", "outcome", "resolved_at", "reason"]
    list_filter = ["outcome"]
    search_fields = ["reason", "hold__reference_id", "hold__carrier__name"]
    date_hierarchy = "resolved_at"
    list_select_related = ["hold"]
