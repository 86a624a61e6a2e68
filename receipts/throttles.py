from core.middleware import client_ip
from core.throttles import SettingsRateThrottle


class ReceiptVerifyThrottle(SettingsRateThrottle):
    """Public verification of receipt codes, page and API together: 30 per IP per minute by
    default (THROTTLE_RECEIPT_VERIFY), stricter than other public reads so that codes cannot be
    tried in bulk (they are unguessable anyway).

    The address is REMOTE_ADDR only (core.middleware.client_ip): DRF's own `get_ident` would
    believe a client's X-Forwarded-For header, and a new header per request would escape the
    limit."""

    scope = "receipt_verify"

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
