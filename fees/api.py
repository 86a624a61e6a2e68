from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core import clock
from core.http_cache import PublicReadApi
from fees.selectors import fee_table


class FeeItemOutput(serializers.Serializer):
    service = serializers.CharField()
    mrp = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)


class FeesOutput(serializers.Serializer):
    date = serializers.DateField()
    mrp_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    basis = serializers.CharField()
    items = FeeItemOutput(many=True)


class FeesApi(PublicReadApi):
    """The fees of every service on a date (R3), at that year's MRP (R2)."""

    class Filter(serializers.Serializer):
        date = serializers.DateField(
            required=False,
            input_formats=["%Y-%m-%d"],
            error_messages={"invalid": _("Write the date as YYYY-MM-DD.")},
        )

    @extend_schema(
        parameters=[OpenApiParameter("date", str, description="YYYY-MM-DD; today by default")],
        responses=FeesOutput,
    )
    def get(self, request):
        query = self.Filter(data=request.query_params)
        query.is_valid(raise_exception=True)
        on = query.validated_data.get("date") or clock.local_today()
        table = fee_table(on)
        return Response(
            FeesOutput(
                {
                    "date": on,
                    "mrp_value": table.mrp_value,
                    "basis": table.schedule.basis,
                    "items": table.quotes,
                }
            ).data
        )
