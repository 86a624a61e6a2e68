"""Rate limits (API.md "Rate limits"), for the API (DRF throttles) and the web pages alike.

Every limit counts per client address, core.middleware.client_ip: the same address for the API,
the pages and the audit trail, and never one a client can choose by sending X-Forwarded-For.
A page and the API endpoint that do the same thing share one scope, so switching between them
does not double the allowance.
"""

import functools
import threading
from collections.abc import Callable, Iterable
from time import monotonic
from typing import Any

from django.core.cache import cache, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from core.errors import error_body
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


# Leases (SettingsRateThrottle.allow_request): allowances of a large limit counted in Redis ahead,
# then given out by this process without a round trip.
LEASE_SECONDS = 2.0
LEASE_SIZE_MAX = 32
# A bound on the table: one lease per client address that read in the last LEASE_SECONDS.
LEASE_TABLE_MAX_KEYS = 65_536

# {limit key: [the unused allowances' members in Redis's log, monotonic() when the lease
# expires]}. Per process.
_leases: dict[str, list] = {}
# The limit keys a thread of this process is reserving a lease for, each with the event set when
# the reservation is done.
_reserving: dict[str, threading.Event] = {}
# How long a request waits in all for other threads' reservations of its client's lease before
# it is counted on its own (a round trip takes well under a millisecond).
RESERVATION_WAIT_SECONDS = 0.05
_leases_lock = threading.Lock()


def lease_size(limit: int) -> int:
    """How many allowances a lease of `limit` holds: 1 or less (limits below 100) means none is
    leased, every request is counted in Redis on its own."""
    return min(LEASE_SIZE_MAX, limit // 50)


def clear_leases() -> None:
    """Forget this process's leases (their allowances stay counted in Redis): for tests."""
    with _leases_lock:
        _leases.clear()
        for reserving in _reserving.values():
            reserving.set()  # nobody waits for a reservation that no longer counts
        _reserving.clear()


@receiver(setting_changed)
def _forget_leases(**kwargs) -> None:
    # Changed rates or another cache: a lease of the old ones must not answer for the new.
    clear_leases()


def _take_from_lease(key: str) -> bool:
    """Use one allowance of the live lease of `key`, if any. Call with _leases_lock held."""
    lease = _leases.get(key)
    if lease is None or not lease[0] or lease[1] <= monotonic():
        return False
    lease[0].pop()
    if not lease[0]:
        del _leases[key]
    return True


def _keep_lease(key: str, members: list[str], expires: float) -> None:
    """Keep a new lease; call with _leases_lock held. At the bound, expired leases go, and all
    of them when that frees too little (theirs stay counted in Redis: stricter, never laxer)."""
    if key not in _leases and len(_leases) >= LEASE_TABLE_MAX_KEYS:
        now = monotonic()
        for expired in [name for name, (_left, until) in _leases.items() if until <= now]:
            del _leases[expired]
        # Clearing when most are live avoids scanning the whole table for every new lease.
        if len(_leases) > LEASE_TABLE_MAX_KEYS * 3 // 4:
            _leases.clear()
    _leases[key] = [members, expires]


class SettingsRateThrottle(SimpleRateThrottle):
    """Reads its rate from the settings at request time, so changed settings take effect, and
    counts per client address (for anonymous and signed-in callers alike).

    With Redis the count is atomic (config.cache: a sliding log checked and added to by one
    script), so parallel requests cannot all pass on one reading of the count; the window,
    "refusals count nothing" and the wait are DRF's. A request is counted once per scope: a
    caller that counted it already (the public read fast path, which counts in the round trip
    of its cache read) leaves the answer on the request, and the throttle gives that answer.

    Large limits of a scope that allows it (`leased`: the public reads) are leased (with
    Redis): a limit of 100 or more per window reserves lease_size(limit) allowances (2 % of
    it, up to 32) in Redis at once, and this process allows the next requests of that client
    from them for up to LEASE_SECONDS without a round trip. Guarantee: Redis never counts more
    than the limit in a window, and every allowed request is one of the requests counted
    there. A client can get up to (lease size - 1) per process more than the limit in a window
    only through the timing of a lease (its entries carry the time of the reservation and are
    used within LEASE_SECONDS after), and may be refused up to that many early per process
    (the allowances of its live leases; an expired lease's unused ones are given back with the
    client's next reservation, and stay counted only when it stops reading). Limits below 100
    per window are counted exactly, one request at a time. A process reserves one lease per
    client at a time (its other threads wait for it, and count exactly when it takes too
    long), so a client's leases in one process follow one another: at most one of them
    straddles the start of any window."""

    # Seconds until a refused request may be tried again (set by allow_request).
    refused_wait = 0.0
    # Whether a large limit of this scope may be leased (see above); the others count exactly.
    leased = False

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
                counted = self._count_atomically(store, key)
            self.remember(request, key, counted)
        allowed, self.refused_wait = counted
        return allowed

    def wait(self) -> float:
        return self.refused_wait

    def _count_atomically(self, store: Any, key: str) -> tuple[bool, float]:
        """Count the request in Redis, from a lease of this process when the limit is large."""
        size = lease_size(self.num_requests) if self.leased else 1
        if size <= 1:
            return store.rate_limit_hit(key, self.num_requests, self.duration)
        wait_until = monotonic() + RESERVATION_WAIT_SECONDS
        for _attempt in range(3):
            with _leases_lock:
                if _take_from_lease(key):
                    return True, 0.0
                reserving = _reserving.get(key)
                if reserving is None:
                    done = _reserving[key] = threading.Event()
                    # An expired lease's unused allowances go back with the next reservation,
                    # so a client reading slowly is not counted a lease per LEASE_SECONDS.
                    expired = _leases.pop(key, None)
                    give_back = expired[0] if expired else []
                    break
            # Another thread is reserving this client's next lease (a burst of one client's
            # requests): wait for it rather than count in Redis alone. A second lease at once
            # could be used past the first one's window, and would leave allowances unused.
            left = wait_until - monotonic()
            if left <= 0 or not reserving.wait(left):
                return store.rate_limit_hit(key, self.num_requests, self.duration)
        else:
            return store.rate_limit_hit(key, self.num_requests, self.duration)
        # Before the round trip: the lease ends at most LEASE_SECONDS after Redis timed its
        # entries (within the window, for windows shorter than that).
        expires = monotonic() + min(LEASE_SECONDS, self.duration)
        granted = 0
        try:
            granted, wait, members = store.rate_limit_reserve(
                key, self.num_requests, self.duration, size, give_back
            )
        finally:
            # Kept in the same hold of the lock that ends the reservation, so no other thread
            # starts one before this lease is in place.
            with _leases_lock:
                if _reserving.get(key) is done:  # not a newer reservation after clear_leases
                    del _reserving[key]
                done.set()
                if granted > 1:
                    _keep_lease(key, members[1:], expires)
        if granted == 0:
            return False, wait
        return True, 0.0

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
    # Thousands a second, each a round trip otherwise; a few reads over the limit at the edge
    # of a window harm nobody.
    leased = True


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
