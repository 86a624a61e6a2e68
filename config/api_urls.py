"""REST API v1 (API.md): every app adds its own `api.py` routes here."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from checkpoints import api as checkpoints_api
from core import api as core_api
from core.api_errors import ApiNotFound
from fees import api as fees_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("countries", checkpoints_api.CountryListApi.as_view(), name="api-countries"),
    path("checkpoints", checkpoints_api.CheckpointListApi.as_view(), name="api-checkpoints"),
    path("fees", fees_api.FeesApi.as_view(), name="api-fees"),
    path("stats/visits", core_api.VisitStatsApi.as_view(), name="api-visit-stats"),
    # Last: anything else under /api/v1/ is a 404 in the API's error shape.
    re_path(r"^.*$", ApiNotFound.as_view(), name="api-not-found"),
]
