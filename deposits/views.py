import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from auth2fa.decorators import verified_login_required
from carriers.selectors import membership_of
from core import clock, csv_safe
from core.errors import ApplicationError
from core.forms import show_refusal
from deposits import services
from deposits.forms import RefundForm, StatementFilterForm
from deposits.selectors import (
    balances_of,
    booking_number_of,
    entries_of,
    signed_amount,
    statement_page,
)
from fees.models import BudgetRefundClaim

MONEY_ROLES = {"owner", "accountant"}


@verified_login_required
def account(request: HttpRequest) -> HttpResponse:
    """The personal account: balances, how to top up, the statement and refunds (P1–P3)."""
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    carrier = member.carrier
    can_move_money = member.role in MONEY_ROLES
    refund_form = RefundForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not can_move_money:
            messages.error(request, _("Only the owner or an accountant can ask for a refund."))
            return redirect("account")
        if refund_form.is_valid():
            try:
                services.refund_request(
                    carrier=carrier,
                    amount=refund_form.cleaned_data["amount"],
                    iban=refund_form.cleaned_data["iban"],
                    requested_by=request.user,
                )
            except ApplicationError as refusal:
                show_refusal(refund_form, refusal)
            else:
                messages.success(
                    request, _("The refund is requested. The registrar will pay it out.")
                )
                return redirect("account")
    filters = StatementFilterForm(request.GET or None)
    entries = None
    if can_move_money:
        criteria = filters.cleaned_data if filters.is_valid() else {}
        entries = entries_of(
            carrier,
            since=clock.start_of_local_day(criteria["since"]) if criteria.get("since") else None,
            until=(
                clock.start_of_local_day(criteria["until"] + dt.timedelta(days=1))
                if criteria.get("until")
                else None
            ),
            kinds=[criteria["kind"]] if criteria.get("kind") else None,
        )
        if request.GET.get("format") == "csv":
            return _statement_csv(carrier, entries)
        before = request.GET.get("before", "")
        page = statement_page(entries, before=int(before) if before.isdigit() else None)
        entries = [
            (entry, signed_amount(entry, carrier.pk), booking_number_of(entry))
            for entry in page.entries
        ]
        context_page = {
            "older_query": (
                _query_with(request, before=page.older_before) if page.older_before else None
            ),
            "newest_query": _query_with(request, before=None) if before else None,
        }
    return render(
        request,
        "deposits/account.html",
        {
            **(context_page if can_move_money else {}),
            "member": member,
            "balances": balances_of(carrier),
            "entries": entries,
            "filters": filters,
            "refund_form": refund_form,
            "can_move_money": can_move_money,
            "registrar_iban": settings.REGISTRAR_IBAN,
            "registrar_name": settings.REGISTRAR_NAME,
            # Fees given back after their transfer to the budget (C3, P4): pending, then settled.
            "budget_claims": (
                BudgetRefundClaim.objects.filter(carrier=carrier)
                .select_related("fee")
                .order_by("-created_at", "-pk")[:50]
                if can_move_money
                else None
            ),
        },
    )


def _query_with(request: HttpRequest, **changes) -> str:
    """The page's query string (its filters) with `changes`; None values are left out."""
    query = request.GET.copy()
    for name, value in changes.items():
        query.pop(name, None)
        if value is not None:
            query[name] = str(value)
    return query.urlencode()


def _statement_csv(carrier, entries) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="kezek-statement-{carrier.iin_bin}.csv"'
    )
    response.write("\ufeff")  # so spreadsheet programs read it as UTF-8
    writer = csv_safe.writer(response)
    writer.writerow([_("Time"), _("Kind"), _("Amount"), _("Booking"), _("Description")])
    for entry in entries.iterator():
        writer.writerow(
            [
                entry.created_at.astimezone(clock.ALMATY).isoformat(timespec="seconds"),
                entry.get_kind_display(),
                f"{signed_amount(entry, carrier.pk):.2f}",
                booking_number_of(entry) or "",
                entry.description,
            ]
        )
    return response
