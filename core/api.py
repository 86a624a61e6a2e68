from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core import visits
from core.throttles import PublicReadThrottle


class VisitStatsApi(APIView):
    """Visits to the public site (W3): today, this month, in all."""

    authentication_classes = []
    throttle_classes = [PublicReadThrottle]

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
