"""Pages of fair release: the public page of a draw (F6) and a carrier's own requests."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from auth2fa.decorators import verified_login_required
from carriers.selectors import membership_of
from release import selectors
from release.draw import carrier_hash, verify_document


@require_GET
def draw_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Anyone can check a draw (F6): C, R, the secret, the seed, each request's rank and outcome,
    and whether recomputing it from these alone gives the same."""
    window = selectors.windows_public().filter(pk=pk).first()
    if window is None:
        raise Http404
    document = selectors.draw_document(window)
    verdict = verify_document(document) if "secret" in document else None
    requests = sorted(document.get("requests", []), key=lambda r: r["rank"])
    return render(
        request,
        "release/draw.html",
        {"window": window, "document": document, "verdict": verdict, "requests": requests},
    )


@verified_login_required
def my_requests(request: HttpRequest) -> HttpResponse:
    """The carrier's requests with their rank and outcome, and the hash to find each on the
    draw's public page."""
    member = membership_of(request.user)
    if member is None:
        raise Http404
    rows = [
        {"request": row, "carrier_hash": carrier_hash(row.pk, row.salt)}
        for row in selectors.requests_of(member.carrier)[:200]
    ]
    return render(request, "release/requests.html", {"rows": rows})
