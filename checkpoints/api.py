import logging

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from checkpoints import public_reads, selectors
from checkpoints.models import Country, Direction, SlotKind
from core.clock import ALMATY
from core.http_cache import PublicReadApi

logger = logging.getLogger(__name__)


class CountryOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class CheckpointOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    country = serializers.CharField(source="country_id")
    daily_capacity = serializers.IntegerField()
    directions = serializers.SerializerMethodField()

    def get_directions(self, checkpoint) -> list[str]:
        return list(Direction.values)


class CountryListApi(PublicReadApi):
    @extend_schema(responses=CountryOutput(many=True))
    def get(self, request):
        return Response(CountryOutput(Country.objects.order_by("code"), many=True).data)


class CheckpointListApi(PublicReadApi):
    class Filter(serializers.Serializer):
        country = serializers.RegexField(
            r"^[A-Za-z]{2}$",
            required=False,
            error_messages={"invalid": _("A country is two letters, like CN.")},
        )

    @extend_schema(
        parameters=[OpenApiParameter("country", str, description="Country code, e.g. CN")],
        responses=CheckpointOutput(many=True),
    )
    def get(self, request):
        query = self.Filter(data=request.query_params)
        query.is_valid(raise_exception=True)
        checkpoints = selectors.active_checkpoints(country=query.validated_data.get("country"))
        return Response(CheckpointOutput(checkpoints, many=True).data)


class SlotOutput(serializers.Serializer):
    start = serializers.DateTimeField(default_timezone=ALMATY)
    end = serializers.DateTimeField(default_timezone=ALMATY)
    capacity = serializers.IntegerField()
    taken = serializers.IntegerField()
    free = serializers.IntegerField()
    closed = serializers.BooleanField()
    bookable = serializers.BooleanField()


class DayGridOutput(serializers.Serializer):
    checkpoint = serializers.CharField()
    direction = serializers.CharField()
    date = serializers.DateField()
    service = serializers.CharField()
    slots = SlotOutput(many=True)


class CheckpointSlotsApi(PublicReadApi):
    """The slots of one day (C1–C4). For `accelerated` and `out_of_turn` every hour shows the
    day's quota. Any date answers (read-only); `bookable` says what can be booked now."""

    class Filter(serializers.Serializer):
        direction = serializers.ChoiceField(
            choices=Direction.values,
            error_messages={"invalid_choice": _("Choose exit or entry.")},
        )
        date = serializers.DateField(
            input_formats=["%Y-%m-%d"],
            error_messages={"invalid": _("Write the date as YYYY-MM-DD.")},
        )
        service = serializers.ChoiceField(
            choices=SlotKind.values,
            default=SlotKind.REGULAR.value,
            error_messages={"invalid_choice": _("Choose regular, accelerated or out_of_turn.")},
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("direction", str, enum=Direction.values, required=True),
            OpenApiParameter("date", str, description="YYYY-MM-DD, local date", required=True),
            OpenApiParameter("service", str, enum=SlotKind.values, description="default regular"),
        ],
        responses=DayGridOutput,
    )
    def get(self, request, code: str):
        checkpoint = public_reads.public_checkpoint(code)
        if checkpoint is None:
            raise Http404
        query = self.Filter(data=request.query_params)
        query.is_valid(raise_exception=True)
        grid = public_reads.public_day_grid(checkpoint=checkpoint, **query.validated_data)
        return self.stamped(request, grid.stamp, lambda: DayGridOutput(grid.value).data)
