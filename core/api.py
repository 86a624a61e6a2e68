from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from core import visits
from core.http_cache import PublicReadApi


class VisitStatsApi(PublicReadApi):
    """Visits to the public site (W3): today, this month, in all."""

    @extend_schema(
        responses=inline_serializer(
            "VisitStats",
            {
                "day": serializers.IntegerField(),
                "month": serializers.IntegerField(),
                "total": serializers.IntegerField(),
            },
        )
    )
    def get(self, request):
        return Response(visits.stats())
