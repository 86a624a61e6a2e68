from django.urls import path

from core import healthz, views

urlpatterns = [
    path("", views.home, name="home"),
    path("faq/", views.faq, name="faq"),
    path("healthz", healthz.healthz, name="healthz"),
]
