from core import audit


def client_ip(request) -> str | None:
    """The client's address. Behind the reverse proxy, REMOTE_ADDR is set from X-Forwarded-For by
    the proxy configuration (gunicorn --forwarded-allow-ips), never trusted from the header here."""
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Makes the request's IP available to audit.record() without threading it through services."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit.current_ip.set(client_ip(request))
        try:
            return self.get_response(request)
        finally:
            audit.current_ip.reset(token)
