from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class SettingsRateThrottle(SimpleRateThrottle):
    """Reads its rate from the settings at request time, so changed settings take effect."""

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class PublicReadThrottle(SettingsRateThrottle):
    """Public reads: 600 per IP per minute by default (API.md), THROTTLE_PUBLIC_READ raises it."""

    scope = "public_read"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
