from django.urls import include, path

from auth2fa import passkey_views, views

urlpatterns = [
    path("register/", views.register, name="register"),
    path("register/verify/", views.register_verify, name="register-verify"),
    path("signin/", views.signin, name="signin"),
    path("signin/eds/", views.signin_eds, name="signin-eds"),
    path("cabinet/confirm/", views.carrier_confirm, name="carrier-confirm"),
    path("signin/factor/", views.signin_factor, name="signin-factor"),
    path("signout/", views.signout, name="signout"),
    path("account/security/", views.security, name="security"),
    path("", include(passkey_views.urlpatterns)),
]
