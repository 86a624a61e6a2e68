"""Personal account endpoints of API.md: balances, statement entries, refund requests."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from carriers.permissions import IsCarrierMember
from core.idempotency import idempotent
from deposits import services
from deposits.selectors import balances_of, booking_number_of, entries_of, signed_amount

MONEY_ROLES = {"owner", "accountant"}


class AccountApi(APIView):
    """Balances of the carrier's personal account (P2)."""

    permission_classes = [IsAuthenticated, IsCarrierMember]

    @extend_schema(
        responses=inline_serializer(
            "Account",
            {
                "number": serializers.CharField(),
                "currency": serializers.CharField(),
                "available": serializers.DecimalField(max_digits=14, decimal_places=2),
                "held": serializers.DecimalField(max_digits=14, decimal_places=2),
                "pending_refunds": serializers.DecimalField(max_digits=14, decimal_places=2),
            },
        )
    )
    def get(self, request):
        balances = balances_of(request.member.carrier)
        return Response(
            {
                "number": balances.number,
                "currency": "KZT",
                "available": f"{balances.available:.2f}",
                "held": f"{balances.held:.2f}",
                "pending_refunds": f"{balances.refund_pending:.2f}",
            }
        )


class EntryOutput(serializers.Serializer):
    at = serializers.DateTimeField(source="created_at")
    kind = serializers.CharField()
    amount = serializers.SerializerMethodField()
    booking = serializers.SerializerMethodField()
    description = serializers.SerializerMethodField()

    def get_amount(self, transfer) -> str:
        return f"{signed_amount(transfer, self.context['carrier_id']):.2f}"

    def get_booking(self, transfer) -> str | None:
        return booking_number_of(transfer)

    def get_description(self, transfer) -> str:
        return transfer.description or str(transfer.get_kind_display())


class AccountEntriesApi(ListAPIView):
    """The statement: money in (+) and out (−) of the available balance, newest first."""

    permission_classes = [IsAuthenticated, IsCarrierMember]
    carrier_roles = MONEY_ROLES
    serializer_class = EntryOutput

    def get_queryset(self):
        return entries_of(self.request.member.carrier)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if hasattr(self.request, "member"):
            context["carrier_id"] = self.request.member.carrier_id
        return context


class AccountRefundsApi(APIView):
    """Ask for available money to be paid to the carrier's bank account (P3)."""

    permission_classes = [IsAuthenticated, IsCarrierMember]
    carrier_roles = MONEY_ROLES

    class Input(serializers.Serializer):
        amount = serializers.DecimalField(
            max_digits=14, decimal_places=2, min_value=Decimal("0.01")
        )
        iban = serializers.CharField(max_length=40)

    @extend_schema(
        request=Input,
        responses={
            201: inline_serializer(
                "RefundRequested",
                {"id": serializers.IntegerField(), "status": serializers.CharField()},
            )
        },
    )
    @idempotent
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        refund = services.refund_request(
            carrier=request.member.carrier,
            amount=data.validated_data["amount"],
            iban=data.validated_data["iban"],
            requested_by=request.user,
        )
        return Response({"id": refund.pk, "status": refund.status}, status=status.HTTP_201_CREATED)
