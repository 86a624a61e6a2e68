"""Vehicles and drivers endpoints of API.md: lists of the carrier's own, and registration."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from carriers.permissions import IsCarrierMember
from vehicles import services
from vehicles.models import Vehicle
from vehicles.selectors import drivers_of, vehicles_of


class FleetWrites(BasePermission):
    """Every member of the carrier reads; only the owner and dispatchers write (SPEC "People").
    Goes after IsCarrierMember, which sets `request.member`."""

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or request.member.can_dispatch


class VehicleOutput(serializers.Serializer):
    id = serializers.IntegerField()
    plate = serializers.CharField()
    plate_display = serializers.CharField()
    vin = serializers.CharField()
    kind = serializers.ChoiceField(choices=Vehicle.Kind.values)
    registration_country = serializers.CharField()
    make_model = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class DriverOutput(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()
    iin = serializers.CharField(allow_null=True)
    passport_number = serializers.CharField(allow_null=True)
    citizenship = serializers.CharField()
    phone = serializers.CharField()
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


ACTIVE_CHOICES = {"true": True, "false": False, "all": None}


class ActiveFilter(serializers.Serializer):
    active = serializers.ChoiceField(
        choices=list(ACTIVE_CHOICES),
        required=False,
        default="true",
        error_messages={"invalid_choice": _("Write active=true, false or all.")},
    )


class VehicleFilter(ActiveFilter):
    kind = serializers.ChoiceField(choices=Vehicle.Kind.values, required=False)


class VehicleInput(serializers.Serializer):
    plate = serializers.CharField(max_length=32)
    vin = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=Vehicle.Kind.values)
    registration_country = serializers.CharField(max_length=32, required=False, default="KZ")
    make_model = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DriverInput(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    iin = serializers.CharField(
        max_length=20, required=False, allow_null=True, allow_blank=True, default=None
    )
    passport_number = serializers.CharField(
        max_length=32, required=False, allow_null=True, allow_blank=True, default=None
    )
    citizenship = serializers.CharField(max_length=32)
    phone = serializers.CharField(max_length=32)


ACTIVE_PARAMETER = OpenApiParameter(
    "active", str, enum=list(ACTIVE_CHOICES), description="true (default), false or all"
)


class VehicleListApi(ListAPIView):
    """The carrier's vehicles (GET) and registering one (POST, owner or dispatcher; B7)."""

    permission_classes = [IsAuthenticated, IsCarrierMember, FleetWrites]
    serializer_class = VehicleOutput

    def get_queryset(self):
        query = VehicleFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return vehicles_of(
            self.request.member.carrier,
            kind=query.validated_data.get("kind"),
            active=ACTIVE_CHOICES[query.validated_data["active"]],
        )

    @extend_schema(
        parameters=[
            ACTIVE_PARAMETER,
            OpenApiParameter("kind", str, enum=Vehicle.Kind.values),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=VehicleInput, responses={201: VehicleOutput})
    def post(self, request):
        data = VehicleInput(data=request.data)
        data.is_valid(raise_exception=True)
        vehicle = services.vehicle_register(member=request.member, **data.validated_data)
        return Response(VehicleOutput(vehicle).data, status=status.HTTP_201_CREATED)


class DriverListApi(ListAPIView):
    """The carrier's drivers (GET) and registering one (POST, owner or dispatcher)."""

    permission_classes = [IsAuthenticated, IsCarrierMember, FleetWrites]
    serializer_class = DriverOutput

    def get_queryset(self):
        query = ActiveFilter(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return drivers_of(
            self.request.member.carrier, active=ACTIVE_CHOICES[query.validated_data["active"]]
        )

    @extend_schema(parameters=[ACTIVE_PARAMETER])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=DriverInput, responses={201: DriverOutput})
    def post(self, request):
        data = DriverInput(data=request.data)
        data.is_valid(raise_exception=True)
        driver = services.driver_register(member=request.member, **data.validated_data)
        return Response(DriverOutput(driver).data, status=status.HTTP_201_CREATED)
