from rest_framework.throttling import SimpleRateThrottle


class PublicReadThrottle(SimpleRateThrottle):
    """Public reads: 600 per IP per minute by default (API.md), THROTTLE_PUBLIC_READ raises it."""

    scope = "public_read"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
