"""Receipt endpoints of API.md ("Personal account and receipts")."""

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.models import booking_pk_from_number
from carriers.permissions import IsCarrierMember
from core.errors import error_body
from fees.models import Service
from receipts.archive import pdf_response, zip_response
from receipts.codes import masked_payer_number
from receipts.forms import ArchiveForm, validate_period_day
from receipts.selectors import (
    MAX_ARCHIVE_DAYS,
    RECEIPT_ROLES,
    Verdict,
    receipt_pdf_of,
    receipt_verify,
    receipts_of,
)
from receipts.throttles import ReceiptVerifyThrottle


class ReceiptOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    booking = serializers.CharField(
        source="booking_number", help_text="The booking's number, e.g. K-0001234-5."
    )
    booking_id = serializers.IntegerField(allow_null=True)
    service = serializers.CharField(
        help_text="regular, accelerated, out_of_turn, rebooking, or deposit (forfeited)."
    )
    mrp = serializers.IntegerField(allow_null=True)
    mrp_value = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    paid_at = serializers.DateTimeField()
    transferred_at = serializers.DateTimeField()
    payment_order = serializers.CharField(source="batch.payment_order_number")
    verification_code = serializers.CharField()


class PeriodFilter(serializers.Serializer):
    """The period is by the day of the transfer to the budget, in Almaty time, both ends
    included."""

    # "from" is a Python keyword: the fields are renamed below.
    since = serializers.DateField(required=False, validators=[validate_period_day])
    until = serializers.DateField(required=False, validators=[validate_period_day])
    service = serializers.ChoiceField(choices=Service.values, required=False)
    booking = serializers.CharField(required=False, max_length=20)

    def to_internal_value(self, data):
        renamed = {
            "since": data.get("from"),
            "until": data.get("to"),
            "service": data.get("service"),
            "booking": data.get("booking"),
        }
        try:
            return super().to_internal_value({k: v for k, v in renamed.items() if v})
        except serializers.ValidationError as exc:
            # Problems are reported under the names the client sent.
            names = {"since": "from", "until": "to"}
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            raise serializers.ValidationError(
                {names.get(name, name): problems for name, problems in detail.items()}
            ) from exc

    def validate_booking(self, value):
        pk = booking_pk_from_number(value)
        if pk is None:
            raise serializers.ValidationError(_("Not a booking number (K-0001234-5)."))
        return pk

    def validate(self, data):
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise serializers.ValidationError(
                {"to": _("The end of the period is before its start.")}
            )
        return data


PERIOD_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (transfer date)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, included"),
]


class ReceiptListApi(ListAPIView):
    """The carrier's receipts (P5), newest transfer first; owner and accountants only."""

    permission_classes = [IsAuthenticated, IsCarrierMember]
    carrier_roles = RECEIPT_ROLES
    serializer_class = ReceiptOutput

    @extend_schema(
        parameters=[
            *PERIOD_PARAMETERS,
            OpenApiParameter("service", OpenApiTypes.STR, enum=Service.values),
            OpenApiParameter("booking", OpenApiTypes.STR, description="booking number"),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        criteria = PeriodFilter(data=self.request.query_params)
        criteria.is_valid(raise_exception=True)
        data = criteria.validated_data
        return receipts_of(
            self.request.member.carrier,
            since=data.get("since"),
            until=data.get("until"),
            service=data.get("service", ""),
            booking_id=data.get("booking"),
        )


class ReceiptPdfApi(APIView):
    permission_classes = [IsAuthenticated, IsCarrierMember]
    carrier_roles = RECEIPT_ROLES

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request, pk: int):
        receipt = receipt_pdf_of(request.member.carrier, pk)
        if receipt is None:
            raise Http404
        return pdf_response(receipt)


class ReceiptArchiveApi(APIView):
    """Every receipt transferred in the period as one ZIP of PDFs (`<number>.pdf` each)."""

    permission_classes = [IsAuthenticated, IsCarrierMember]
    carrier_roles = RECEIPT_ROLES

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=True),
            OpenApiParameter(
                "to",
                OpenApiTypes.DATE,
                required=True,
                description=f"included; at most {MAX_ARCHIVE_DAYS} days from `from`",
            ),
        ],
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        form = ArchiveForm(
            {"since": request.query_params.get("from"), "until": request.query_params.get("to")}
        )
        if not form.is_valid():
            names = {"since": "from", "until": "to"}
            fields = {names[name]: list(errors) for name, errors in form.errors.items()}
            message = " ".join(f"{name}: {errors[0]}" for name, errors in fields.items())
            return Response(error_body("validation_error", message, fields), status=400)
        since, until = form.cleaned_data["since"], form.cleaned_data["until"]
        receipts = receipts_of(request.member.carrier, since=since, until=until)
        return zip_response(receipts, since=since, until=until)


class ReceiptVerifyApi(APIView):
    """Public check of a receipt's verification code (P5), rate-limited per IP address.

    200 with the key facts when the receipt is genuine. 404 otherwise: `not_found` when no receipt
    has the code (or it is not a code at all), `code_altered` when the code's check part does not
    match the rest of it (mistyped or edited)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [ReceiptVerifyThrottle]

    @extend_schema(
        responses={
            200: inline_serializer(
                "ReceiptVerified",
                {
                    "valid": serializers.BooleanField(),
                    "number": serializers.CharField(),
                    "amount": serializers.DecimalField(max_digits=14, decimal_places=2),
                    "transferred_at": serializers.DateTimeField(),
                    "paid_at": serializers.DateTimeField(),
                    "service": serializers.CharField(),
                    "booking": serializers.CharField(),
                    "payment_order": serializers.CharField(),
                    "payer_name": serializers.CharField(),
                    "payer_iin_bin": serializers.CharField(help_text="all but the last 4 masked"),
                },
            ),
            404: OpenApiResponse(description="unknown (`not_found`) or altered (`code_altered`)"),
        }
    )
    def get(self, request, code: str):
        verification = receipt_verify(code)
        if verification.verdict == Verdict.ALTERED:
            return Response(
                error_body(
                    "code_altered",
                    _(
                        "This code has been altered: its check part does not match the rest of "
                        "it. Compare it with the receipt."
                    ),
                ),
                status=404,
            )
        if not verification.genuine:
            return Response(
                error_body("not_found", _("No receipt has this verification code.")), status=404
            )
        receipt = verification.receipt
        return Response(
            {
                "valid": True,
                "number": receipt.number,
                "amount": f"{receipt.amount:.2f}",
                "transferred_at": serializers.DateTimeField().to_representation(
                    receipt.transferred_at
                ),
                "paid_at": serializers.DateTimeField().to_representation(receipt.paid_at),
                "service": receipt.service,
                "booking": receipt.booking_number,
                "payment_order": receipt.batch.payment_order_number,
                "payer_name": receipt.payer_name,
                "payer_iin_bin": masked_payer_number(receipt),
            }
        )
