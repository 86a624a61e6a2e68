"""The Telegram webhook, included at `telegram/` by config.urls."""

from django.urls import path

from auth2fa.telegram_views import telegram_webhook

app_name = "telegram"

urlpatterns = [
    path("webhook/<str:secret>", telegram_webhook, name="webhook"),
]
