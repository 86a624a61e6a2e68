from django.urls import path

from checkpoints import views

urlpatterns = [
    path("", views.home, name="home"),
    path("checkpoints/<str:code>/", views.checkpoint_page, name="checkpoint"),
    path(
        "checkpoints/<str:code>/calendar/",
        views.checkpoint_calendar,
        name="checkpoint-calendar",
    ),
]
