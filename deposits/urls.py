from django.urls import path

from deposits import views

urlpatterns = [path("cabinet/account/", views.account, name="account")]
