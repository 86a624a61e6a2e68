"""The daily figures in the API (W5): GET /api/v1/open-data/daily, a public read.

The same rows as /open-data/daily.csv, paged by date in the same way, with the licence in the
body and in the Link header (docs/open-data.md).
"""

from django.urls import reverse
from django.utils.http import urlencode
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from core.errors import ApplicationError
from core.http_cache import PublicReadApi
from open_data import selectors
from open_data.forms import FiguresFilterForm
from open_data.views import LICENCE_NAME, LICENCE_URL, link_header


class DailyFiguresOutput(serializers.Serializer):
    date = serializers.DateField(help_text="local date (Asia/Almaty) of the slots")
    checkpoint = serializers.CharField(help_text="checkpoint code")
    direction = serializers.CharField(help_text="exit or entry")
    places_offered = serializers.IntegerField()
    requested = serializers.IntegerField(
        allow_null=True, help_text="requests in the draw; null where no draw released the places"
    )
    booked = serializers.IntegerField()
    arrived = serializers.IntegerField()
    crossed = serializers.IntegerField()
    no_shows = serializers.IntegerField()
    cancellations = serializers.IntegerField()
    waits_counted = serializers.IntegerField(help_text="vehicles called after arriving")
    wait_median_minutes = serializers.FloatField(allow_null=True)
    wait_p90_minutes = serializers.FloatField(
        allow_null=True, help_text="90th percentile by the nearest rank"
    )


class LicenceOutput(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.URLField()
    attribution = serializers.CharField()


class DailyFiguresPageOutput(serializers.Serializer):
    licence = LicenceOutput()
    first = serializers.DateField(help_text="first date of this page")
    last = serializers.DateField(help_text="last date of this page")
    next = serializers.CharField(allow_null=True, help_text="the next page of the same range")
    previous = serializers.CharField(
        allow_null=True, help_text=f"the {selectors.PAGE_DAYS} days before, if any figures are"
    )
    results = DailyFiguresOutput(many=True)


def _date_parameter(name: str, default: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, description=f"YYYY-MM-DD; default {default}")


class DailyFiguresApi(PublicReadApi):
    """Daily figures per checkpoint, direction and day (W5), oldest first. A page holds at most
    366 days from `from`; follow `next` for the rest of a longer range. Licence: CC BY 4.0."""

    @extend_schema(
        operation_id="open_data_daily",
        parameters=[
            OpenApiParameter("checkpoint", str, description="checkpoint code; default all"),
            OpenApiParameter("direction", str, enum=["exit", "entry"], description="default both"),
            _date_parameter("from", f"{selectors.DEFAULT_DAYS} days before `to`"),
            _date_parameter("to", "yesterday"),
        ],
        responses=DailyFiguresPageOutput,
    )
    def get(self, request):
        form = FiguresFilterForm(request.query_params)
        if not form.is_valid():
            raise ApplicationError(
                "invalid",
                next(iter(form.errors.values()))[0],
                fields={field: list(errors) for field, errors in form.errors.items()},
            )
        page = selectors.Page.of(form.query())
        url = request.build_absolute_uri(reverse("api-open-data-daily"))

        def link(params: dict | None) -> str | None:
            return f"{url}?{urlencode(params)}" if params is not None else None

        def body() -> dict:
            return DailyFiguresPageOutput(
                {
                    "licence": {
                        "name": LICENCE_NAME,
                        "url": LICENCE_URL,
                        "attribution": "Kezek — electronic queue at the border checkpoints",
                    },
                    "first": page.first,
                    "last": page.last,
                    "next": link(page.next_params),
                    "previous": link(page.previous_params),
                    "results": [selectors.published_row(row) for row in page.rows()],
                }
            ).data

        response = self.stamped(request, page.stamp(), body)
        response["Link"] = link_header(request, "api-open-data-daily", page)
        return response
