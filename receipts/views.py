"""Receipts in the personal account (P5) and the public verification page.

The carrier's owner and accountants list, filter and download receipts, one by one or all of a
period as a ZIP; a dispatcher is refused (A5). The verification page is public and rate-limited
per IP address together with the API (receipts.throttles).
"""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from auth2fa.decorators import verified_login_required
from carriers.selectors import membership_of
from core.throttles import retry_after_seconds
from receipts.archive import pdf_response, zip_response
from receipts.codes import CodeState, masked_payer_number, parse_verification_code
from receipts.forms import ArchiveForm, ReceiptFilterForm, VerifyForm
from receipts.selectors import RECEIPT_ROLES, receipt_pdf_of, receipt_verify, receipts_of
from receipts.throttles import ReceiptVerifyThrottle

PAGE_SIZE = 50


def _member_or_refusal(request: HttpRequest):
    """(member, None) for an owner or accountant; else (None, the answer to give)."""
    member = membership_of(request.user)
    if member is None:
        return None, redirect("cabinet")
    if member.role not in RECEIPT_ROLES:
        return None, render(request, "receipts/refused.html", {"member": member}, status=403)
    return member, None


@verified_login_required
@require_GET
def receipt_list(request: HttpRequest) -> HttpResponse:
    member, refusal = _member_or_refusal(request)
    if refusal is not None:
        return refusal
    filters = ReceiptFilterForm(request.GET or None)
    if filters.is_bound and not filters.is_valid():
        receipts = receipts_of(member.carrier).none()
    else:
        criteria = filters.cleaned_data if filters.is_bound else {}
        receipts = receipts_of(
            member.carrier,
            since=criteria.get("since"),
            until=criteria.get("until"),
            service=criteria.get("service") or "",
            booking_id=criteria.get("booking"),
        )
    page = Paginator(receipts, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "receipts/list.html",
        {
            "member": member,
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
        },
    )


@verified_login_required
@require_GET
def receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    member, refusal = _member_or_refusal(request)
    if refusal is not None:
        return refusal
    receipt = receipt_pdf_of(member.carrier, pk)
    if receipt is None:
        raise Http404
    return pdf_response(receipt)


@verified_login_required
@require_GET
def receipt_archive(request: HttpRequest) -> HttpResponse:
    """Every receipt transferred in the period, as one ZIP (P5)."""
    member, refusal = _member_or_refusal(request)
    if refusal is not None:
        return refusal
    form = ArchiveForm(request.GET)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        back = {key: request.GET[key] for key in ("since", "until") if request.GET.get(key)}
        url = reverse("receipts")
        return redirect(f"{url}?{urlencode(back)}" if back else url)
    since, until = form.cleaned_data["since"], form.cleaned_data["until"]
    return zip_response(
        receipts_of(member.carrier, since=since, until=until), since=since, until=until
    )


# --- Public verification ----------------------------------------------------------------------


def _throttled(request: HttpRequest) -> HttpResponse | None:
    throttle = ReceiptVerifyThrottle()
    if throttle.allow_request(request, None):
        return None
    response = render(request, "receipts/verify.html", {"form": VerifyForm(), "throttled": True})
    response.status_code = 429
    response["Retry-After"] = str(retry_after_seconds(throttle.wait()))
    return response


@require_GET
def receipt_verify_form(request: HttpRequest) -> HttpResponse:
    """Type the code (or scan the QR code, which opens the code's page directly)."""
    form = VerifyForm(request.GET if "code" in request.GET else None)
    if form.is_valid():
        parsed = parse_verification_code(form.cleaned_data["code"])
        if parsed.state != CodeState.MALFORMED:
            return redirect("receipt-verify-code", code=parsed.code)
        form.add_error("code", _malformed_message())
    return render(request, "receipts/verify.html", {"form": form})


@require_GET
def receipt_verify_code(request: HttpRequest, code: str) -> HttpResponse:
    """Whether the receipt with this code is genuine, with its key facts (P5)."""
    refusal = _throttled(request)
    if refusal is not None:
        return refusal
    verification = receipt_verify(code)
    receipt = verification.receipt
    return render(
        request,
        "receipts/verify.html",
        {
            "form": VerifyForm(initial={"code": verification.code or code}),
            "verification": verification,
            "receipt": receipt,
            "payer_iin_bin": masked_payer_number(receipt) if receipt else "",
        },
        status=200 if verification.genuine else 404,
    )


def _malformed_message() -> str:
    return _("This is not a receipt verification code: a code has 20 letters and digits.")
