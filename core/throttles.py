"""Rate limits (API.md "Rate limits"), for the API (DRF throttles) and the web pages alike.

Every limit counts per client address, core.middleware.client_ip: the same address for the API,
the pages and the audit trail, and never one a client can choose by sending X-Forwarded-For.
A page and the API endpoint that do the same thing share one scope, so switching between them
does not double the allowance.
"""

import functools
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.errors import error_body
from core.middleware import client_ip


def _atomic_store():
    """The default cache when it counts rate limits atomically (config.cache, Redis), else None:
    then DRF's own history in the cache counts them (the file cache of `make run`: one process)."""
    backend = caches["default"]
    return backend if hasattr(backend, "rate_limit_hit") else None


class SettingsRateThrottle(SimpleRateThrottle):
    """Reads its rate from the settings at request time, so changed settings take effect, and
    counts per client address (for anonymous and signed-in callers alike).

    With Redis the count is atomic (config.cache: a sliding log checked and added to by one
    script), so parallel requests cannot all pass on one reading of the count; the window,
    "refusals count nothing" and the wait are DRF's."""

    # Seconds until a refused request may be tried again (set by allow_request).
    refused_wait = 0.0

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        store = _atomic_store()
        if store is None:
            allowed = super().allow_request(request, view)
            self.refused_wait = 0.0 if allowed else float(super().wait() or 0)
            return allowed
        key = self.get_cache_key(request, view)
        allowed, self.refused_wait = store.rate_limit_hit(key, self.num_requests, self.duration)
        return allowed

    def wait(self) -> float:
        return self.refused_wait

    def counted(self, request) -> int:
        """How many requests the limit counts for this request's client now (tests, support)."""
        if self.rate is None:
            return 0
        key = self.get_cache_key(request, None)
        store = _atomic_store()
        if store is None:
            now = self.timer()
            return sum(1 for moment in cache.get(key, []) if moment > now - self.duration)
        return store.rate_limit_count(key, self.duration)


class PublicReadThrottle(SettingsRateThrottle):
    """Public reads: 600 per IP per minute by default (API.md), THROTTLE_PUBLIC_READ raises it.
    Behind the deployment's proxy (PUBLIC_READ_LIMIT_AT_PROXY) the proxy counts them, in front
    of its cache (deploy/nginx), and the portal does not count them again."""

    scope = "public_read"

    def get_rate(self) -> str | None:
        if settings.PUBLIC_READ_LIMIT_AT_PROXY:
            return None
        return super().get_rate()


class SignInThrottle(SettingsRateThrottle):
    """First factor (password or EDS) and EDS challenges: THROTTLE_SIGN_IN per IP. A3's lock of
    an account after 10 failures stops guessing one account; this stops trying many from one
    address."""

    scope = "sign_in"


class OtpThrottle(SettingsRateThrottle):
    """Second factor at sign-in (sending and checking codes, passkeys): THROTTLE_OTP per IP, on
    top of A3's per-code, per-phone and per-account limits."""

    scope = "otp"


class RegistrationThrottle(SettingsRateThrottle):
    """Registration, its phone confirmation and code resends: 10 per IP per hour (API.md)."""

    scope = "registration"


def retry_after_seconds(wait: float | None) -> int:
    """Retry-After for a throttle's `wait()`: whole seconds, rounded up, at least one."""
    return int(wait) + 1 if wait else 1


def _too_many_requests_page(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = (retry_after + 59) // 60
    response = render(
        request,
        "core/throttled.html",
        {"retry_after": retry_after, "minutes": minutes, "back": request.path},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


def _too_many_requests_json(retry_after: int) -> JsonResponse:
    response = JsonResponse(
        error_body("throttled", _("Too many requests. Try again later.")), status=429
    )
    response["Retry-After"] = str(retry_after)
    return response


def throttle_view(
    throttle_class: type[SettingsRateThrottle],
    *,
    methods: Iterable[str] = ("POST",),
    json: bool = False,
) -> Callable:
    """Apply an API throttle to a page view: beyond the limit the person sees a page that says
    so and when to try again (or, for the JSON endpoints of page scripts, the API's error shape),
    both 429 with Retry-After. Only the listed methods count, so reading a form stays free."""
    counted = {method.upper() for method in methods}

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in counted:
                throttle = throttle_class()
                if not throttle.allow_request(request, None):
                    retry_after = retry_after_seconds(throttle.wait())
                    if json:
                        return _too_many_requests_json(retry_after)
                    return _too_many_requests_page(request, retry_after)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# The pages anyone may read without signing in (by URL name): they count with the public API
# reads (THROTTLE_PUBLIC_READ per IP). Receipt verification has its own stricter limit.
PUBLIC_PAGES = frozenset(
    {
        "home",
        "faq",
        "fees",
        "board",
        "checkpoint",
        "checkpoint-calendar",
        "receipt-verify",
        "audit-heads",
        "proof-check",
    }
)


class PublicPageThrottleMiddleware:
    """Applies the public read limit to the public pages, which belong to several apps; listing
    them here keeps the limit in one place, next to the API's."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if match is None or match.url_name not in PUBLIC_PAGES:
            return None
        if request.method not in ("GET", "HEAD"):
            return None
        throttle = PublicReadThrottle()
        if throttle.allow_request(request, None):
            return None
        return _too_many_requests_page(request, retry_after_seconds(throttle.wait()))
