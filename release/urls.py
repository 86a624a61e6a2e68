from django.urls import path

from release import views

urlpatterns = [
    path("draws/<int:pk>/", views.draw_page, name="release-draw"),
    path("cabinet/requests/", views.my_requests, name="release-requests"),
    path("cabinet/requests/new/", views.request_new, name="release-request-new"),
    path(
        "cabinet/requests/<int:pk>/withdraw/",
        views.request_withdraw,
        name="release-request-withdraw",
    ),
]
