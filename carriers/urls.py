from django.urls import path

from carriers import views

urlpatterns = [path("", views.cabinet, name="cabinet")]
