"""Rate limits (API.md "Rate limits"), for the API (DRF throttles) and the web pages alike.

Every limit counts per client address, core.middleware.client_ip: the same address for the API,
the pages and the audit trail, and never one a client can choose by sending X-Forwarded-For.
A page and the API endpoint that do the same thing share one scope, so switching between them
does not double the allowance.
"""

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache, caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.middleware import client_ip

# Where the counts taken for a request are remembered, in its WSGI environ (request.META), so that
# whatever answers it (checkpoints.front, the fast path middleware, the view's throttle) finds
# them: {cache key: (allowed, wait)}.
COUNTED_ENVIRON_KEY = "kezek.rate_limits_counted"


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
    "refusals count nothing" and the wait are DRF's. A request is counted once per scope: a
    caller that counted it already (the public read fast path, which counts in the round trip
    of its cache read) leaves the answer on the request, and the throttle gives that answer."""

    # Seconds until a refused request may be tried again (set by allow_request).
    refused_wait = 0.0

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def limit_key(self, request) -> str | None:
        """The cache key of the request's count, or None when no limit applies (no rate)."""
        if self.rate is None:
            return None
        return self.get_cache_key(request, None)

    def allow_request(self, request, view) -> bool:
        key = self.limit_key(request)
        if key is None:
            return True
        counted = self.remembered(request, key)
        if counted is None:
            store = _atomic_store()
            if store is None:
                allowed = super().allow_request(request, view)
                counted = (allowed, 0.0 if allowed else float(super().wait() or 0))
            else:
                counted = store.rate_limit_hit(key, self.num_requests, self.duration)
            self.remember(request, key, counted)
        allowed, self.refused_wait = counted
        return allowed

    def wait(self) -> float:
        return self.refused_wait

    def get_many_and_count(self, request, keys: list[str]) -> tuple[dict[str, Any], bool]:
        """The cache values of `keys` and whether the request is allowed, counting it (when a
        limit applies and it was not counted yet): in one Redis round trip with config.cache.
        The view's throttle then answers from what is remembered on the request instead of
        counting it again."""
        key = self.limit_key(request)
        store = _atomic_store()
        if key is None or store is None or self.remembered(request, key) is not None:
            found = cache.get_many(keys)
            return found, self.allow_request(request, None)
        found, counted = store.get_many_and_hit(keys, key, self.num_requests, self.duration)
        self.remember(request, key, counted)
        return found, counted[0]

    @staticmethod
    def remembered(request, key: str) -> tuple[bool, float] | None:
        return request.META.get(COUNTED_ENVIRON_KEY, {}).get(key)

    @staticmethod
    def remember(request, key: str, counted: tuple[bool, float]) -> None:
        # In the environ (DRF's Request reads META through to it), so a later throttle of the
        # same scope, in the front, the middleware or the view, finds it.
        request.META.setdefault(COUNTED_ENVIRON_KEY, {})[key] = counted

    def counted(self, request) -> int:
        """How many requests the limit counts for this request's client now (tests, support)."""
        key = self.limit_key(request)
        if key is None:
            return 0
        store = _atomic_store()
        if store is None:
            now = self.timer()
            return sum(1 for moment in cache.get(key, []) if moment > now - self.duration)
        return store.rate_limit_count(key, self.duration)


class PublicReadThrottle(SettingsRateThrottle):
    """Public reads: 600 per IP per minute by default (API.md), THROTTLE_PUBLIC_READ raises it."""

    scope = "public_read"


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
    from core.api_errors import error_body

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
PUBLIC_PAGES = frozenset({"home", "faq", "fees", "board", "receipt-verify"})


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
