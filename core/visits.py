"""Visit statistics for the footer (W3): per day, per month, total.

A visit is a person's first public page of the day (a cookie remembers the day). Counting costs
no database write per request: the count goes to the cache (an atomic INCR on Redis), and
`flush_visit_counters` moves it into `VisitDay` once a minute. The file-based cache of `make run`
without Redis increments with a read and a write, so two exactly simultaneous first visits in
development may count once.
"""

import datetime as dt

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Sum

from core import clock
from core.models import VisitDay

COOKIE = "kezek_visit"
PENDING_TTL = 7 * 24 * 3600
STATS_KEY = "visits:stored"
STATS_TTL = 300
SKIPPED_PREFIXES = ("/admin/", "/api/", "/static/", "/i18n/", "/media/")


def _pending_key(day: dt.date) -> str:
    return f"visits:pending:{day.isoformat()}"


def count_visit(day: dt.date) -> None:
    key = _pending_key(day)
    cache.add(key, 0, timeout=PENDING_TTL)
    try:
        cache.incr(key)
    except ValueError:
        # The key expired between add and incr: start it again at one.
        cache.set(key, 1, timeout=PENDING_TTL)


def flush_pending(*, as_of: dt.datetime | None = None) -> int:
    """Move the cached counts of the last few days into VisitDay; returns how many were moved."""
    today = clock.local_date(as_of or clock.now())
    moved = 0
    for offset in range(3):
        day = today - dt.timedelta(days=offset)
        key = _pending_key(day)
        pending = cache.get(key) or 0
        if not pending:
            continue
        with transaction.atomic():
            VisitDay.objects.get_or_create(date=day)
            VisitDay.objects.filter(date=day).update(visits=F("visits") + pending)
            # Taken from the counter inside the transaction: if the commit fails, nothing moved.
            cache.decr(key, pending)
        moved += pending
    if moved:
        cache.delete(STATS_KEY)
    return moved


def stats(*, as_of: dt.datetime | None = None) -> dict[str, int]:
    """{"day", "month", "total"} as of now, counting what is stored plus what is still pending."""
    today = clock.local_date(as_of or clock.now())
    stored = cache.get(STATS_KEY)
    if stored is None or stored["today"] != today.isoformat():
        rows = VisitDay.objects
        stored = {
            "today": today.isoformat(),
            "day": rows.filter(date=today).aggregate(n=Sum("visits"))["n"] or 0,
            "month": rows.filter(date__year=today.year, date__month=today.month).aggregate(
                n=Sum("visits")
            )["n"]
            or 0,
            "total": rows.aggregate(n=Sum("visits"))["n"] or 0,
        }
        cache.set(STATS_KEY, stored, timeout=STATS_TTL)
    pending = {
        offset: cache.get(_pending_key(today - dt.timedelta(days=offset))) or 0
        for offset in range(3)
    }
    in_month = sum(
        count
        for offset, count in pending.items()
        if (today - dt.timedelta(days=offset)).month == today.month
    )
    return {
        "day": stored["day"] + pending[0],
        "month": stored["month"] + in_month,
        "total": stored["total"] + sum(pending.values()),
    }


def _seconds_to_local_midnight() -> int:
    now = clock.now().astimezone(clock.ALMATY)
    midnight = clock.start_of_local_day(now.date() + dt.timedelta(days=1))
    return max(60, int((midnight - now).total_seconds()))


class VisitCounterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method == "GET"
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(SKIPPED_PREFIXES)
        ):
            today = clock.local_today().isoformat()
            if request.COOKIES.get(COOKIE) != today:
                count_visit(clock.local_today())
                response.set_cookie(
                    COOKIE,
                    today,
                    max_age=_seconds_to_local_midnight(),
                    httponly=True,
                    samesite="Lax",
                )
        return response
