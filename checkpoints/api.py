from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from checkpoints import selectors
from checkpoints.models import Country, Direction
from core.throttles import PublicReadThrottle


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


class CountryListApi(APIView):
    authentication_classes = []
    throttle_classes = [PublicReadThrottle]

    @extend_schema(responses=CountryOutput(many=True))
    def get(self, request):
        return Response(CountryOutput(Country.objects.order_by("code"), many=True).data)


class CheckpointListApi(APIView):
    authentication_classes = []
    throttle_classes = [PublicReadThrottle]

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
