from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from bookings.proof_views import booking_proof_download
from core.api_errors import (
    json_or_page_400,
    json_or_page_403,
    json_or_page_404,
    json_or_page_500,
)

admin.site.site_header = "Kezek"
admin.site.site_title = "Kezek"

urlpatterns = [
    # First: the API takes most requests, and each pattern before it is tried in turn.
    path("api/v1/", include("config.api_urls")),
    path("", include("core.urls")),
    path("fees/", include("fees.urls")),
    path("", include("auth2fa.urls")),
    path("", include("carriers.urls")),
    path("", include("deposits.urls")),
    path("", include("vehicles.urls")),
    path("", include("checkpoint_queue.urls")),
    path("", include("checkpoints.urls")),
    path("", include("bookings.urls")),
    path("cabinet/bookings/<int:pk>/proof.json", booking_proof_download, name="booking-proof"),
    path("", include("receipts.urls")),
    path("", include("release.urls")),
    path("", include("open_data.urls")),
    path("telegram/", include("auth2fa.telegram_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("admin/", admin.site.urls),
]

handler400 = json_or_page_400
handler403 = json_or_page_403
handler404 = json_or_page_404
handler500 = json_or_page_500
