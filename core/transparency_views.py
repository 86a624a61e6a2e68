"""The public transparency pages (W6): the audit chain's daily heads, and checking a proof.

Anyone reads them without signing in. The heads page is a public read (its ETag names the
publications, the page of days and what the page's frame shows, so a browser revalidates it for
a 304); the check page takes a proof file and gives core.proofs' verdict against the heads
published here.
"""

import hashlib

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.utils.cache import get_conditional_response, patch_cache_control, quote_etag
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from core import proofs, visits
from core.throttles import SettingsRateThrottle, throttle_view
from core.transparency_api import HEADS_PAGE_DAYS, HeadsPage


class ProofCheckThrottle(SettingsRateThrottle):
    """Checks of uploaded proofs per IP (THROTTLE_PROOF_CHECK): each reads up to 10 MB and
    hashes it, more work than a public read."""

    scope = "proof_check"


class HeadsFilterForm(forms.Form):
    until = forms.DateField(
        label=gettext_lazy("Up to the day"),
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": gettext_lazy("Write the date as YYYY-MM-DD.")},
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class ProofCheckForm(forms.Form):
    proof = forms.FileField(
        label=gettext_lazy("Proof file"),
        help_text=gettext_lazy("The JSON file downloaded from a booking's page, up to %(size)d MB.")
        % {"size": proofs.MAX_PROOF_BYTES // (1024 * 1024)},
        error_messages={
            "required": gettext_lazy("Choose the proof file to check."),
            "empty": gettext_lazy("The file is empty: it is not a proof."),
        },
        widget=forms.ClearableFileInput(attrs={"accept": "application/json,.json"}),
    )

    def clean_proof(self):
        upload = self.cleaned_data["proof"]
        if upload.size > proofs.MAX_PROOF_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)d MB: it is not a proof from this portal.")
                % {"size": proofs.MAX_PROOF_BYTES // (1024 * 1024)}
            )
        try:
            return proofs.load_proof(upload.read(proofs.MAX_PROOF_BYTES + 1))
        except proofs.ProofError as exc:
            raise forms.ValidationError(exc.message) from exc


def _page_etag(request: HttpRequest, stamp: str) -> str:
    """The ETag of a public page: the data's stamp and everything else the page shows that can
    change — the language, who is signed in, the visitor's CSRF token (in its forms), the visit
    cookie (a first visit of the day is counted on a full answer) and the footer's counts."""
    user = request.user
    parts = [
        stamp,
        get_language(),
        str(user.pk if user.is_authenticated else ""),
        str(getattr(user, "is_verified", lambda: False)() if user.is_authenticated else ""),
        request.COOKIES.get(settings.CSRF_COOKIE_NAME, ""),
        request.COOKIES.get(visits.COOKIE, ""),
        repr(sorted(visits.stats().items())),
    ]
    return quote_etag(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32])


def _private_cache(response: HttpResponse) -> HttpResponse:
    # Private: the page carries the visitor's own CSRF token, so only their browser keeps it.
    patch_cache_control(response, private=True, max_age=settings.PUBLIC_READ_MAX_AGE)
    return response


@require_GET
def audit_heads(request: HttpRequest) -> HttpResponse:
    """The heads published for a page of days (W6), newest first."""
    form = HeadsFilterForm(request.GET or None)
    until = form.cleaned_data.get("until") if form.is_valid() else None
    page = HeadsPage(until)
    etag = _page_etag(request, f"{page.stamp}-{form.is_bound and not form.is_valid()}")
    if get_conditional_response(request, etag=etag) is not None:
        response = HttpResponseNotModified()
        response["ETag"] = etag
        return _private_cache(response)
    response = render(
        request,
        "core/audit_heads.html",
        {
            "form": form,
            "page": page,
            "heads": page.heads(),
            "older_until": page.older_until,
            "newer_until": page.newer_until,
            "page_days": HEADS_PAGE_DAYS,
        },
        status=200 if not form.is_bound or form.is_valid() else 400,
    )
    response["ETag"] = etag
    return _private_cache(response)


@require_http_methods(["GET", "POST"])
@throttle_view(ProofCheckThrottle)
def proof_check(request: HttpRequest) -> HttpResponse:
    """Upload a proof and read the verdict (W6): core.proofs.verify_proof, the heads compared
    with the ones published here."""
    check = None
    if request.method == "POST":
        form = ProofCheckForm(request.POST, request.FILES)
        if form.is_valid():
            check = proofs.verify_proof(
                form.cleaned_data["proof"], published=proofs.published_head_hash
            )
    else:
        form = ProofCheckForm()
    # A verdict, valid or not, is an answer (200); a file that is no proof at all is a 400.
    status = 400 if form.is_bound and check is None else 200
    response = render(
        request, "core/proof_check.html", {"form": form, "check": check}, status=status
    )
    response["Cache-Control"] = "private, no-store"
    return response
