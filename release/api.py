"""Fair release endpoints (API.md, docs/api.md "Fair release"): the public windows and draws
(F6), and a carrier's requests (F2): place, list, change, withdraw, result with its rank."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api import BookingWriteThrottle
from bookings.models import BookingService, CargoCategory
from carriers.permissions import IsCarrierMember
from checkpoints.models import Direction
from core.http_cache import PublicReadApi
from core.idempotency import idempotent
from release import selectors, services
from release.draw import carrier_hash
from release.models import ReleaseRequest
from release.notices import request_number
from vehicles.plates import format_plate


class WindowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    checkpoint = serializers.CharField(source="checkpoint.code")
    direction = serializers.CharField()
    day = serializers.DateField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField()
    status = serializers.CharField()
    commitment = serializers.CharField(help_text="C = SHA-256(secret), published before the window")
    carrier_limit = serializers.IntegerField(help_text="requests per carrier (F3)")


class ReleaseWindowListApi(PublicReadApi):
    """The windows published (F1, F4): each with its commitment from before it opens."""

    class Filter(serializers.Serializer):
        checkpoint = serializers.CharField(required=False, max_length=40)

    @extend_schema(
        parameters=[OpenApiParameter("checkpoint", str)], responses=WindowOutput(many=True)
    )
    def get(self, request):
        query = self.Filter(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.windows_public()
        if query.validated_data.get("checkpoint"):
            rows = rows.filter(checkpoint__code=query.validated_data["checkpoint"].upper())
        return Response(WindowOutput(rows[:200], many=True).data)


DRAW_DOCUMENT = inline_serializer(
    "ReleaseDraw",
    {
        "id": serializers.IntegerField(),
        "checkpoint": serializers.CharField(),
        "direction": serializers.CharField(),
        "day": serializers.DateField(),
        "opens_at": serializers.DateTimeField(),
        "closes_at": serializers.DateTimeField(),
        "status": serializers.CharField(),
        "commitment": serializers.CharField(),
        "carrier_limit": serializers.IntegerField(),
        "drawn_at": serializers.DateTimeField(required=False),
        "secret": serializers.CharField(required=False, help_text="revealed at the draw"),
        "merkle_root": serializers.CharField(required=False),
        "seed": serializers.CharField(required=False),
        "request_count": serializers.IntegerField(required=False),
        "places": serializers.DictField(child=serializers.IntegerField(), required=False),
        "open_hours": serializers.ListField(child=serializers.IntegerField(), required=False),
        "requests": inline_serializer(
            "ReleaseDrawRequest",
            {
                "id": serializers.IntegerField(),
                "carrier": serializers.CharField(help_text='SHA-256("<id>:<salt>")'),
                "service": serializers.CharField(),
                "hours": serializers.ListField(child=serializers.IntegerField()),
                "rank": serializers.CharField(),
                "outcome": serializers.ChoiceField(choices=["won", "unsuccessful", "skipped"]),
                "hour": serializers.IntegerField(allow_null=True),
            },
            many=True,
            required=False,
        ),
    },
)


class ReleaseDrawApi(PublicReadApi):
    """Everything needed to check a draw (F6); before it, the commitment only."""

    @extend_schema(responses=DRAW_DOCUMENT)
    def get(self, request, pk: int):
        window = selectors.windows_public().filter(pk=pk).first()
        if window is None:
            raise NotFound()
        return Response(selectors.draw_document(window))


class RequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.SerializerMethodField()
    window = WindowOutput()
    service = serializers.CharField()
    hours = serializers.ListField(child=serializers.IntegerField())
    vehicle = serializers.SerializerMethodField()
    trailer = serializers.SerializerMethodField()
    drivers = serializers.ListField(source="driver_ids", child=serializers.IntegerField())
    cargo_category = serializers.CharField()
    document_number = serializers.CharField()
    status = serializers.CharField()
    rank = serializers.SerializerMethodField(help_text="SHA-256(seed ‖ id), after the draw")
    carrier_hash = serializers.SerializerMethodField(
        help_text="how the public draw shows this request's carrier"
    )
    salt = serializers.CharField()
    hour_won = serializers.IntegerField(allow_null=True)
    booking = serializers.SerializerMethodField()
    skip_reason = serializers.CharField()
    on_waitlist = serializers.SerializerMethodField(
        help_text="unsuccessful at the draw and waiting for a freed place of its day (F7)"
    )
    created_at = serializers.DateTimeField()
    changed_at = serializers.DateTimeField()

    def get_on_waitlist(self, request) -> bool:
        return selectors.is_waiting(request)

    def get_number(self, request) -> str:
        return request_number(request.pk)

    def get_vehicle(self, request) -> dict:
        return {
            "id": request.vehicle_id,
            "plate": format_plate(request.vehicle.plate, request.vehicle.registration_country),
            "vin": request.vehicle_vin,
        }

    def get_trailer(self, request) -> dict | None:
        if request.trailer_id is None:
            return None
        return {
            "id": request.trailer_id,
            "plate": format_plate(request.trailer.plate, request.trailer.registration_country),
            "vin": request.trailer_vin,
        }

    def get_rank(self, request) -> str | None:
        return request.rank or None

    def get_carrier_hash(self, request) -> str:
        return carrier_hash(request.pk, request.salt)

    def get_booking(self, request) -> dict | None:
        if request.booking_id is None:
            return None
        return {"id": request.booking_id, "number": request.booking.number}


class RequestInput(serializers.Serializer):
    checkpoint = serializers.CharField(max_length=40)
    direction = serializers.ChoiceField(choices=Direction.values)
    day = serializers.DateField()
    service = serializers.ChoiceField(choices=BookingService.values)
    hours = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=23),
        required=False,
        max_length=24,
        help_text="acceptable hours, most wanted first",
    )
    hours_from = serializers.IntegerField(required=False, min_value=0, max_value=23)
    hours_to = serializers.IntegerField(required=False, min_value=0, max_value=23)
    vehicle = serializers.IntegerField()
    trailer = serializers.IntegerField(required=False, allow_null=True)
    drivers = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    cargo_category = serializers.ChoiceField(
        choices=CargoCategory.values, required=False, allow_blank=True
    )
    document_number = serializers.CharField(max_length=60, required=False, allow_blank=True)

    def to_input(self) -> services.RequestInput:
        values = self.validated_data
        hours = values.get("hours")
        if not hours and "hours_from" in values and "hours_to" in values:
            hours = services.hours_of_range(values["hours_from"], values["hours_to"])
        return services.RequestInput(
            checkpoint_code=values["checkpoint"].upper(),
            direction=values["direction"],
            day=values["day"],
            service=values["service"],
            hours=hours or [],
            vehicle_id=values["vehicle"],
            trailer_id=values.get("trailer"),
            driver_ids=values["drivers"],
            cargo_category=values.get("cargo_category", ""),
            document_number=values.get("document_number", ""),
        )


class ReleaseRequestListApi(ListAPIView):
    permission_classes = [IsAuthenticated, IsCarrierMember]
    serializer_class = RequestOutput

    def get_throttles(self):
        return [BookingWriteThrottle()] if self.request.method == "POST" else []

    def get_queryset(self):
        return selectors.requests_of(self.request.member.carrier)

    @extend_schema(responses=RequestOutput(many=True))
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=RequestInput, responses={201: RequestOutput})
    @idempotent
    def post(self, request):
        data = RequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.request_create(member=request.member, data=data.to_input())
        # The new request carries its window, vehicle and trailer already: no second read.
        return Response(RequestOutput(made).data, status=status.HTTP_201_CREATED)


def _answer(request, pk: int) -> dict:
    return RequestOutput(selectors.requests_of(request.member.carrier).get(pk=pk)).data


class RequestDetailMixin:
    permission_classes = [IsAuthenticated, IsCarrierMember]

    def own(self, request, pk: int) -> ReleaseRequest:
        found = selectors.requests_of(request.member.carrier).filter(pk=pk).first()
        if found is None:
            raise NotFound()
        return found


class ReleaseRequestDetailApi(RequestDetailMixin, APIView):
    """The request and, after the draw, its result: rank, outcome, the booking won."""

    def get_throttles(self):
        return [BookingWriteThrottle()] if self.request.method == "PUT" else []

    @extend_schema(responses=RequestOutput)
    def get(self, request, pk: int):
        return Response(RequestOutput(self.own(request, pk)).data)

    @extend_schema(request=RequestInput, responses=RequestOutput)
    def put(self, request, pk: int):
        data = RequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.request_change(
            member=request.member, request=self.own(request, pk), data=data.to_input()
        )
        return Response(_answer(request, pk))


class ReleaseRequestWithdrawApi(RequestDetailMixin, APIView):
    throttle_classes = [BookingWriteThrottle]

    @extend_schema(request=None, responses=RequestOutput)
    def post(self, request, pk: int):
        services.request_withdraw(member=request.member, request=self.own(request, pk))
        return Response(_answer(request, pk))
