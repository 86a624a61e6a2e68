"""The proof of a booking's audit events for its carrier (W6): a JSON file from the booking page
and from the API, for the carrier's own bookings only (another's is 404, as for the booking).

The file is core.proofs' document (docs/proofs.md); anyone checks it with `verify_proof` or on
the public check page.
"""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from auth2fa.decorators import verified_login_required
from bookings.models import Booking
from bookings.selectors import booking_of
from carriers.permissions import IsCarrierMember
from carriers.selectors import membership_of
from core import proofs
from core.transparency_api import ProofOutput


def booking_proof(booking: Booking) -> dict[str, Any]:
    """The proof of the events whose object is the booking (A6, W6)."""
    return proofs.object_proof(
        object_type=Booking._meta.label_lower, object_id=booking.pk, label=booking.number
    )


def _filename(booking: Booking) -> str:
    return f"kezek-proof-{booking.number}.json"


@verified_login_required
@require_GET
def booking_proof_download(request: HttpRequest, pk: int) -> HttpResponse:
    member = membership_of(request.user)
    if member is None:
        return redirect("cabinet")
    booking = booking_of(member.carrier, pk)
    if booking is None:
        raise Http404
    response = HttpResponse(
        proofs.proof_json(booking_proof(booking)), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(booking)}"'
    # The carrier's own data: never kept by a shared cache.
    response["Cache-Control"] = "private, no-store"
    return response


class BookingProofApi(APIView):
    """The proof that the booking's audit events are in a published daily head (W6)."""

    permission_classes = [IsAuthenticated, IsCarrierMember]

    @extend_schema(responses=ProofOutput)
    def get(self, request, pk: int):
        booking = booking_of(request.member.carrier, pk)
        if booking is None:
            raise NotFound()
        response = Response(booking_proof(booking))
        response["Content-Disposition"] = f'inline; filename="{_filename(booking)}"'
        response["Cache-Control"] = "private, no-store"
        return response
