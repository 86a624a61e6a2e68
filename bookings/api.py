"""Booking endpoints of API.md."""

from decimal import Decimal

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import services
from bookings.driver_links import booking_of_driver_link
from bookings.models import Booking, BookingService, CargoCategory
from bookings.pdf import confirmation_pdf
from bookings.selectors import bookings_of, deposit_status
from carriers.permissions import IsCarrierMember
from checkpoint_queue.predictions import predicted_call_at
from checkpoint_queue.selectors import queue_position
from checkpoints.models import Direction
from core.idempotency import idempotent
from core.throttles import PublicReadThrottle, SettingsRateThrottle
from deposits.models import Hold
from vehicles.plates import format_plate


class BookingWriteThrottle(SettingsRateThrottle):
    """Booking writes: 120 per carrier per minute (API.md)."""

    scope = "booking_writes"

    def get_cache_key(self, request, view):
        member = getattr(request, "member", None)
        if member is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": member.carrier_id}


class VehicleRef(serializers.Serializer):
    id = serializers.IntegerField()
    plate = serializers.CharField()
    vin = serializers.CharField()


class BookingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    status = serializers.CharField()
    checkpoint = serializers.CharField(source="checkpoint.code")
    country = serializers.CharField(source="country_id")
    direction = serializers.CharField()
    service = serializers.CharField()
    slot_start = serializers.DateTimeField()
    slot_end = serializers.DateTimeField()
    vehicle = serializers.SerializerMethodField()
    trailer = serializers.SerializerMethodField()
    drivers = serializers.SerializerMethodField()
    cargo_category = serializers.CharField()
    document_number = serializers.CharField()
    fee = serializers.SerializerMethodField()
    fees_paid = serializers.SerializerMethodField()
    deposit = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_vehicle(self, booking) -> dict:
        return {
            "id": booking.vehicle_id,
            "plate": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
            "vin": booking.vehicle_vin,
        }

    def get_trailer(self, booking) -> dict | None:
        if booking.trailer_id is None:
            return None
        return {
            "id": booking.trailer_id,
            "plate": format_plate(booking.trailer_plate, booking.trailer.registration_country),
            "vin": booking.trailer_vin,
        }

    def get_drivers(self, booking) -> list[dict]:
        return [
            {"id": link.driver_id, "full_name": link.driver.full_name}
            for link in booking.driver_links.all()
        ]

    def get_fee(self, booking) -> dict:
        return {
            "mrp": booking.fee_mrp,
            "mrp_value": f"{booking.fee_mrp_value:.2f}",
            "amount": f"{booking.fee_amount:.2f}",
        }

    def get_fees_paid(self, booking) -> str:
        rebooking = getattr(booking, "rebooking_fees", None)
        if rebooking is None:
            rebooking = sum((c.fee_amount for c in booking.changes.all()), start=0)
        return f"{booking.fee_amount + rebooking:.2f}"

    def get_deposit(self, booking) -> dict:
        hold = booking.deposit_hold
        return {
            "amount": f"{hold.amount:.2f}" if hold else "0.00",
            "status": deposit_status(booking),
        }


def booking_answer(request, booking: Booking, *, status_code: int = 200) -> Response:
    fresh = bookings_of(request.member.carrier).get(pk=booking.pk)
    return Response(BookingOutput(fresh).data, status=status_code)


def created_answer(booking: Booking) -> dict:
    """The answer about a booking `booking_create` just made, from the objects it keeps in
    memory (no read back): what `bookings_of` would read — its drivers in the order added, no
    re-booking fee yet, a deposit hold with no outcome yet — so the same JSON as a later GET."""
    drivers = booking.driver_links.all()
    drivers._result_cache = booking.added_driver_links
    drivers._prefetch_done = True
    booking._prefetched_objects_cache = {"driver_links": drivers}
    booking.rebooking_fees = Decimal("0.00")
    if booking.deposit_hold is not None:
        Hold.resolution.related.set_cached_value(booking.deposit_hold, None)
    return BookingOutput(booking).data


class BookingCreateInput(serializers.Serializer):
    checkpoint = serializers.CharField(max_length=40)
    direction = serializers.ChoiceField(choices=Direction.values)
    service = serializers.ChoiceField(choices=BookingService.values)
    slot_start = serializers.DateTimeField()
    vehicle = serializers.IntegerField()
    trailer = serializers.IntegerField(required=False, allow_null=True)
    drivers = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    cargo_category = serializers.ChoiceField(
        choices=CargoCategory.values, required=False, allow_blank=True
    )
    document_number = serializers.CharField(max_length=60, required=False, allow_blank=True)


class BookingListApi(ListAPIView):
    permission_classes = [IsAuthenticated, IsCarrierMember]
    serializer_class = BookingOutput

    def get_throttles(self):
        return [BookingWriteThrottle()] if self.request.method == "POST" else []

    class Filter(serializers.Serializer):
        status = serializers.ChoiceField(choices=["active", "all"], required=False)

    def get_queryset(self):
        query = self.Filter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return bookings_of(
            self.request.member.carrier,
            active_only=query.validated_data.get("status", "active") == "active",
        )

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=["active", "all"])],
        responses=BookingOutput(many=True),
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=BookingCreateInput, responses={201: BookingOutput})
    @idempotent
    def post(self, request):
        data = BookingCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        booking = services.booking_create(
            member=request.member,
            request=services.BookingRequest(
                checkpoint_code=values["checkpoint"],
                direction=values["direction"],
                service=values["service"],
                slot_start=values["slot_start"],
                vehicle_id=values["vehicle"],
                trailer_id=values.get("trailer"),
                driver_ids=values["drivers"],
                cargo_category=values.get("cargo_category", ""),
                document_number=values.get("document_number", ""),
            ),
        )
        return Response(created_answer(booking), status=status.HTTP_201_CREATED)


class BookingDetailMixin:
    permission_classes = [IsAuthenticated, IsCarrierMember]

    def booking(self, request, pk: int) -> Booking:
        booking = bookings_of(request.member.carrier).filter(pk=pk).first()
        if booking is None:
            from rest_framework.exceptions import NotFound

            raise NotFound()
        return booking


class BookingDetailApi(BookingDetailMixin, APIView):
    @extend_schema(responses=BookingOutput)
    def get(self, request, pk: int):
        return Response(BookingOutput(self.booking(request, pk)).data)

    @extend_schema(exclude=True)
    def put(self, request, pk: int):
        # B3, B4: nothing about a booking is edited in place; changes have their own endpoints.
        raise MethodNotAllowed(request.method)

    @extend_schema(exclude=True)
    def patch(self, request, pk: int):
        raise MethodNotAllowed(request.method)


class BookingDriversApi(BookingDetailMixin, APIView):
    throttle_classes = [BookingWriteThrottle]

    class Input(serializers.Serializer):
        drivers = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)

    @extend_schema(request=Input, responses=BookingOutput)
    def post(self, request, pk: int):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        booking = services.booking_add_drivers(
            member=request.member,
            booking=self.booking(request, pk),
            driver_ids=data.validated_data["drivers"],
        )
        return booking_answer(request, booking)


class BookingRescheduleApi(BookingDetailMixin, APIView):
    throttle_classes = [BookingWriteThrottle]

    class Input(serializers.Serializer):
        slot_start = serializers.DateTimeField()

    @extend_schema(request=Input, responses=BookingOutput)
    @idempotent
    def post(self, request, pk: int):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        booking = services.booking_reschedule(
            member=request.member,
            booking=self.booking(request, pk),
            slot_start=data.validated_data["slot_start"],
        )
        return booking_answer(request, booking)


class BookingCancelApi(BookingDetailMixin, APIView):
    throttle_classes = [BookingWriteThrottle]

    @extend_schema(request=None, responses=BookingOutput)
    @idempotent
    def post(self, request, pk: int):
        booking = services.booking_cancel(member=request.member, booking=self.booking(request, pk))
        return booking_answer(request, booking)


class BookingConfirmationPdfApi(BookingDetailMixin, APIView):
    @extend_schema(responses={(200, "application/pdf"): bytes})
    def get(self, request, pk: int):
        booking = self.booking(request, pk)
        response = FileResponse(iter([confirmation_pdf(booking)]), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="kezek-{booking.number}.pdf"'
        return response


class DriverLinkApi(APIView):
    """The driver link (Q5) for programs: the booking, its status and its place in the waiting
    queue, without signing in; 404 `not_found` for a wrong or revoked link. Counted per address
    like public reads."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [PublicReadThrottle]

    @extend_schema(
        responses=inline_serializer(
            "DriverLink",
            {
                "booking": serializers.CharField(),
                "plate": serializers.CharField(),
                "checkpoint": serializers.CharField(),
                "direction": serializers.ChoiceField(choices=Direction.values),
                "slot_start": serializers.DateTimeField(),
                "slot_end": serializers.DateTimeField(),
                "status": serializers.CharField(),
                "position": serializers.IntegerField(
                    allow_null=True, help_text="1 = next; null unless waiting in the queue"
                ),
                "predicted_call_at": serializers.DateTimeField(
                    allow_null=True,
                    help_text="expected call (Q6); null once called or no longer active",
                ),
            },
        )
    )
    def get(self, request, number: str, token: str):
        booking = booking_of_driver_link(number, token)
        if booking is None:
            raise NotFound()
        response = Response(
            {
                "booking": booking.number,
                "plate": format_plate(booking.vehicle_plate, booking.vehicle.registration_country),
                "checkpoint": booking.checkpoint.code,
                "direction": booking.direction,
                "slot_start": booking.slot_start,
                "slot_end": booking.slot_end,
                "status": booking.status,
                "position": queue_position(booking),
                "predicted_call_at": predicted_call_at(booking),
            }
        )
        response["Cache-Control"] = "private, no-store"
        return response
