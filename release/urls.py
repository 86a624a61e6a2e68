from django.urls import path

from release import views

urlpatterns = [
    path("draws/<int:pk>/", views.draw_page, name="release-draw"),
    path("cabinet/requests/", views.my_requests, name="release-requests"),
]
