"""REST API v1 (API.md): every app adds its own `api.py` routes here."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from auth2fa import api as auth_api
from bookings import api as bookings_api
from bookings import proof_views as booking_proofs
from carriers import api as carriers_api
from checkpoint_queue import api as queue_api
from checkpoint_queue import offline_api
from checkpoints import api as checkpoints_api
from core import api as core_api
from core import transparency_api
from core.api_docs import ApiDocsView
from core.api_errors import ApiNotFound
from deposits import api as deposits_api
from fees import api as fees_api
from open_data import api as open_data_api
from receipts import api as receipts_api
from release import api as release_api
from vehicles import api as vehicles_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/register", auth_api.RegisterApi.as_view(), name="api-register"),
    path("auth/register/verify", auth_api.RegisterVerifyApi.as_view(), name="api-register-verify"),
    path("auth/register/resend", auth_api.RegisterResendApi.as_view(), name="api-register-resend"),
    path("auth/login", auth_api.LoginApi.as_view(), name="api-login"),
    path("auth/eds/challenge", auth_api.EdsChallengeApi.as_view(), name="api-eds-challenge"),
    path("auth/eds/login", auth_api.EdsLoginApi.as_view(), name="api-eds-login"),
    path("auth/otp/send", auth_api.OtpSendApi.as_view(), name="api-otp-send"),
    path("auth/otp/verify", auth_api.OtpVerifyApi.as_view(), name="api-otp-verify"),
    path("me", auth_api.MeApi.as_view(), name="api-me"),
    path("carrier/confirm", auth_api.CarrierConfirmApi.as_view(), name="api-carrier-confirm"),
    path(
        "carrier/documents",
        carriers_api.CarrierDocumentsApi.as_view(),
        name="api-carrier-documents",
    ),
    path("bookings", bookings_api.BookingListApi.as_view(), name="api-bookings"),
    path("bookings/<int:pk>", bookings_api.BookingDetailApi.as_view(), name="api-booking"),
    path(
        "bookings/<int:pk>/drivers",
        bookings_api.BookingDriversApi.as_view(),
        name="api-booking-drivers",
    ),
    path(
        "bookings/<int:pk>/reschedule",
        bookings_api.BookingRescheduleApi.as_view(),
        name="api-booking-reschedule",
    ),
    path(
        "bookings/<int:pk>/cancel",
        bookings_api.BookingCancelApi.as_view(),
        name="api-booking-cancel",
    ),
    path(
        "bookings/<int:pk>/confirmation.pdf",
        bookings_api.BookingConfirmationPdfApi.as_view(),
        name="api-booking-pdf",
    ),
    path(
        "bookings/<int:pk>/proof",
        booking_proofs.BookingProofApi.as_view(),
        name="api-booking-proof",
    ),
    path(
        "driver-links/<str:number>/<str:token>",
        bookings_api.DriverLinkApi.as_view(),
        name="api-driver-link",
    ),
    path("release/windows", release_api.ReleaseWindowListApi.as_view(), name="api-release-windows"),
    path("release/draws/<int:pk>", release_api.ReleaseDrawApi.as_view(), name="api-release-draw"),
    path(
        "release/requests", release_api.ReleaseRequestListApi.as_view(), name="api-release-requests"
    ),
    path(
        "release/requests/<int:pk>",
        release_api.ReleaseRequestDetailApi.as_view(),
        name="api-release-request",
    ),
    path(
        "release/requests/<int:pk>/withdraw",
        release_api.ReleaseRequestWithdrawApi.as_view(),
        name="api-release-request-withdraw",
    ),
    path("account", deposits_api.AccountApi.as_view(), name="api-account"),
    path("account/entries", deposits_api.AccountEntriesApi.as_view(), name="api-account-entries"),
    path("account/refunds", deposits_api.AccountRefundsApi.as_view(), name="api-account-refunds"),
    path("countries", checkpoints_api.CountryListApi.as_view(), name="api-countries"),
    path("checkpoints", checkpoints_api.CheckpointListApi.as_view(), name="api-checkpoints"),
    path(
        "checkpoints/<str:code>/slots",
        checkpoints_api.CheckpointSlotsApi.as_view(),
        name="api-checkpoint-slots",
    ),
    path(
        "checkpoints/<str:code>/queue",
        queue_api.CheckpointQueueApi.as_view(),
        name="api-checkpoint-queue",
    ),
    path(
        "checkpoints/<str:code>/manifest",
        offline_api.ManifestApi.as_view(),
        name="api-checkpoint-manifest",
    ),
    path(
        "checkpoints/<str:code>/offline-events",
        offline_api.OfflineEventsApi.as_view(),
        name="api-checkpoint-offline-events",
    ),
    path("manifest-keys", offline_api.ManifestKeysApi.as_view(), name="api-manifest-keys"),
    path(
        "checkpoint-events",
        queue_api.CheckpointEventApi.as_view(),
        name="api-checkpoint-events",
    ),
    path("fees", fees_api.FeesApi.as_view(), name="api-fees"),
    path("receipts", receipts_api.ReceiptListApi.as_view(), name="api-receipts"),
    path("receipts/archive", receipts_api.ReceiptArchiveApi.as_view(), name="api-receipts-archive"),
    path(
        "receipts/verify/<str:code>",
        receipts_api.ReceiptVerifyApi.as_view(),
        name="api-receipt-verify",
    ),
    path("receipts/<int:pk>/pdf", receipts_api.ReceiptPdfApi.as_view(), name="api-receipt-pdf"),
    path("stats/visits", core_api.VisitStatsApi.as_view(), name="api-visit-stats"),
    path("open-data/daily", open_data_api.DailyFiguresApi.as_view(), name="api-open-data-daily"),
    path("audit/heads", transparency_api.AuditHeadsApi.as_view(), name="api-audit-heads"),
    path("audit/heads/<str:day>", transparency_api.AuditHeadApi.as_view(), name="api-audit-head"),
    path("vehicles", vehicles_api.VehicleListApi.as_view(), name="api-vehicles"),
    path("drivers", vehicles_api.DriverListApi.as_view(), name="api-drivers"),
    # Last: anything else under /api/v1/ is a 404 in the API's error shape.
    re_path(r"^.*$", ApiNotFound.as_view(), name="api-not-found"),
]
