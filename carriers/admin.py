"""Carriers in the admin. Who a carrier is changes only through the services (A7): confirmed_at,
lapsed_at and the refusal are read here, never typed. A carrier from abroad is checked on its
"Check the documents" page: the operator opens each document and confirms the carrier or refuses
it with a reason (carriers.services)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from carriers import services
from carriers.models import Carrier, CarrierDocument, Member
from carriers.selectors import documents_of, waits_for_documents_check
from core.admin import AuditedAdmin
from core.errors import ApplicationError


class MemberInline(admin.TabularInline):
    model = Member
    extra = 0
    autocomplete_fields = ["user"]


class DocumentsCheckFilter(admin.SimpleListFilter):
    title = _("documents check")
    parameter_name = "check"

    def lookups(self, request, model_admin):
        return [
            ("waiting", _("Waiting for the operator")),
            ("refused", _("Refused")),
            ("no_documents", _("No documents yet")),
        ]

    def queryset(self, request, queryset):
        waiting = queryset.filter(
            kind=Carrier.Kind.FOREIGN, confirmed_at__isnull=True, lapsed_at__isnull=True
        ).annotate(document_count=Count("documents"))
        if self.value() == "waiting":
            return waiting.filter(document_count__gt=0, refused_at__isnull=True)
        if self.value() == "refused":
            return waiting.filter(refused_at__isnull=False)
        if self.value() == "no_documents":
            return waiting.filter(document_count=0)
        return queryset


class RefusalForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (the carrier's owner reads it)"),
        max_length=services.REFUSAL_REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(Carrier)
class CarrierAdmin(AuditedAdmin):
    list_display = ["name", "number", "kind", "created_at", "state"]
    list_filter = ["kind", DocumentsCheckFilter, "country"]
    search_fields = ["name", "iin_bin", "tax_number"]
    readonly_fields = [
        "created_at",
        "confirmed_at",
        "lapsed_at",
        "refused_at",
        "refusal_reason",
        "documents",
    ]
    inlines = [MemberInline]

    @admin.display(description=_("IIN/BIN or tax number"), ordering="iin_bin")
    def number(self, carrier: Carrier) -> str:
        return carrier.number_display

    @admin.display(description=_("state"))
    def state(self, carrier: Carrier) -> str:
        if carrier.is_confirmed:
            return gettext("Confirmed")
        if carrier.lapsed_at is not None:
            return gettext("Lapsed")
        if carrier.refused_at is not None:
            return gettext("Refused")
        return gettext("Not confirmed")

    @admin.display(description=_("documents"))
    def documents(self, carrier: Carrier) -> str:
        if carrier.pk is None or not carrier.is_foreign:
            return "—"
        rows = [
            (
                reverse("admin:carriers_carrier_document", args=[carrier.pk, document.pk]),
                document.name,
                document.content_type,
                document.size,
            )
            for document in documents_of(carrier)
        ]
        if not rows:
            return gettext("No documents yet")
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", '<li><a href="{}">{}</a> ({}, {} B)</li>', rows),
        )

    def get_readonly_fields(self, request, obj=None):
        # A carrier's kind and foreign number are what it registered with (A7).
        extra = ["kind", "country", "tax_number"] if obj is not None else []
        return [*super().get_readonly_fields(request, obj), *extra]

    def can_check(self, request, carrier: Carrier | None) -> bool:
        return (
            carrier is not None
            and waits_for_documents_check(carrier)
            and services.can_check_documents(request.user)
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/check/",
                self.admin_site.admin_view(self.check_view),
                name="{}_{}_check".format(*info),
            ),
            path(
                "<path:object_id>/documents/<int:document_id>/",
                self.admin_site.admin_view(self.document_view),
                name="{}_{}_document".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        carrier = self.get_object(request, unquote(object_id))
        extra_context = dict(extra_context or {})
        if self.can_check(request, carrier):
            extra_context["check_url"] = reverse("admin:carriers_carrier_check", args=[carrier.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def document_view(self, request, object_id, document_id):
        """One document as uploaded, always as a download of the type found in its content."""
        carrier = self.get_object(request, unquote(object_id))
        if carrier is None or not self.has_view_permission(request, carrier):
            raise PermissionDenied
        document = CarrierDocument.objects.filter(carrier=carrier, pk=document_id).first()
        if document is None:
            raise Http404
        response = HttpResponse(bytes(document.content), content_type=document.content_type)
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=document.name
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def check_view(self, request, object_id):
        """The documents of a carrier from abroad, and the operator's decision: confirm, or
        refuse with a reason."""
        carrier = self.get_object(request, unquote(object_id))
        if carrier is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not services.can_check_documents(request.user):
            raise PermissionDenied
        change_url = reverse("admin:carriers_carrier_change", args=[carrier.pk])
        if not waits_for_documents_check(carrier):
            messages.error(request, gettext("This carrier is not waiting for a documents check."))
            return HttpResponseRedirect(change_url)
        action = request.POST.get("action") if request.method == "POST" else None
        refusal = RefusalForm(request.POST if action == "refuse" else None)
        try:
            if action == "confirm":
                services.carrier_confirm_from_documents(carrier_id=carrier.pk, actor=request.user)
                messages.success(
                    request,
                    gettext("%(carrier)s is confirmed: it can book now.") % {"carrier": carrier},
                )
                return HttpResponseRedirect(change_url)
            if action == "refuse" and refusal.is_valid():
                services.carrier_refuse(
                    carrier_id=carrier.pk, actor=request.user, reason=refusal.cleaned_data["reason"]
                )
                messages.success(
                    request,
                    gettext("%(carrier)s is refused; its owner is told.") % {"carrier": carrier},
                )
                return HttpResponseRedirect(change_url)
        except ApplicationError as refused:
            messages.error(request, str(refused.message))
            return HttpResponseRedirect(request.path)
        documents = [
            (
                document,
                reverse("admin:carriers_carrier_document", args=[carrier.pk, document.pk]),
            )
            for document in documents_of(carrier)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Check the documents of %(carrier)s") % {"carrier": carrier},
            "opts": self.opts,
            "original": carrier,
            "carrier": carrier,
            "owners": carrier.members.filter(role=Member.Role.OWNER).select_related("user"),
            "documents": documents,
            "refusal": refusal,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/carriers/carrier/check.html", context)
