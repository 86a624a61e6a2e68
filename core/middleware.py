import logging
import time

from django.conf import settings

from core import audit
from core.log import current_request_id, loggable_path, request_id_from_header

request_logger = logging.getLogger("kezek.request")

REQUEST_ID_HEADER = "X-Request-ID"
# Monitoring polls these; a line per poll would drown the requests that matter.
QUIET_PATHS = frozenset({"/healthz"})


def _num_proxies() -> int:
    return int(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0)


def client_ip(request) -> str | None:
    """The client's address. With no proxy in front (NUM_PROXIES=0) it is REMOTE_ADDR and any
    X-Forwarded-For header is ignored. Behind NUM_PROXIES trusted proxies it is the address the
    outermost of them appended to X-Forwarded-For (the N-th entry from the right): the entries
    left of it come from the client and prove nothing. Rate limits and the audit trail both use
    this, so a client cannot escape a limit or fake its address with a header of its own."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = _num_proxies()
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies <= 0 or not forwarded:
        return remote
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if not addresses:
        return remote
    return addresses[-min(proxies, len(addresses))]


class RequestContextMiddleware:
    """Gives every request an id (a sane incoming X-Request-ID, or a new one) that every log line
    of the request carries and the response returns in X-Request-ID; makes the request's IP
    available to audit.record() without threading it through services; and writes one log line
    per request (method, path, status, duration, user id)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from_header(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        id_token = current_request_id.set(request_id)
        ip_token = audit.current_ip.set(client_ip(request))
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            if request.path not in QUIET_PATHS:
                self._log(request, response.status_code, started)
            return response
        finally:
            audit.current_ip.reset(ip_token)
            current_request_id.reset(id_token)

    @staticmethod
    def _log(request, status: int, started: float) -> None:
        user = getattr(request, "user", None)
        method, path = request.method, loggable_path(request)
        request_logger.info(
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
            },
        )
