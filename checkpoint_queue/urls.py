from django.urls import path

from checkpoint_queue import views

urlpatterns = [
    path("staff/checkpoints/", views.staff_checkpoints, name="staff-checkpoints"),
    path("staff/checkpoints/sw.js", views.staff_service_worker, name="staff-service-worker"),
    path("staff/checkpoints/<str:code>/app/", views.staff_offline_app, name="staff-offline-app"),
    path(
        "staff/checkpoints/<str:code>/app.webmanifest",
        views.staff_app_manifest,
        name="staff-app-manifest",
    ),
    path("staff/checkpoints/<str:code>/", views.staff_checkpoint, name="staff-checkpoint"),
    path("board/<str:code>/", views.board, name="board"),
]
