"""GET /healthz for the container health check and monitoring: the database, Redis and the
Celery worker's heartbeat, 200 when all are well and 503 otherwise.

The body names each check and its state only: no connection string, host name or error text
(which may quote a password) ever leaves; the details go to the log.
"""

import datetime as dt
import logging
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core import clock, notices

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "core:worker-heartbeat"
# Longer than any sane staleness threshold, so a stopped worker reads as stale, not missing.
HEARTBEAT_CACHE_SECONDS = 24 * 3600
REDIS_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    ok: bool
    state: str
    extra: dict | None = None

    def as_dict(self) -> dict:
        return {"ok": self.ok, "state": self.state, **(self.extra or {})}


def heartbeat_record(now: dt.datetime | None = None) -> None:
    """The worker's heartbeat: the time a task last ran on a worker (core.tasks.worker_heartbeat,
    scheduled by beat, so a fresh beat also proves beat and the broker work)."""
    moment = now or clock.now()
    cache.set(HEARTBEAT_CACHE_KEY, moment.isoformat(), timeout=HEARTBEAT_CACHE_SECONDS)


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("healthz: the database does not answer", exc_info=True)
        return Check(False, "unavailable")
    return Check(True, "ok")


def check_redis() -> Check:
    url = settings.REDIS_URL
    if not url:
        # `make run` on a bare machine: the cache and the Celery broker live under var/.
        return Check(True, "not_configured", {"transport": "filesystem"})
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        client.ping()
    except (redis.RedisError, OSError, ValueError):
        logger.warning("healthz: Redis does not answer", exc_info=True)
        return Check(False, "unavailable")
    return Check(True, "ok")


def check_worker(now: dt.datetime | None = None) -> Check:
    now = now or clock.now()
    try:
        value = cache.get(HEARTBEAT_CACHE_KEY)
    except Exception:  # any cache backend error (Redis down, a full disk) means "cannot tell"
        logger.warning("healthz: the cache does not answer", exc_info=True)
        return Check(False, "unknown")
    if not value:
        return Check(False, "no_heartbeat")
    try:
        beat = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return Check(False, "no_heartbeat")
    age = max(0, int((now - beat).total_seconds()))
    threshold = settings.HEALTHZ_WORKER_STALE_SECONDS
    extra = {"heartbeat_age_seconds": age, "stale_after_seconds": threshold}
    if age > threshold:
        return Check(False, "stale", extra)
    return Check(True, "ok", extra)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": check_database(),
        "redis": check_redis(),
        "worker": check_worker(),
    }
    healthy = all(check.ok for check in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unhealthy",
            "checks": {name: check.as_dict() for name, check in checks.items()},
            # Things the operators must act on; none of them makes the portal unhealthy.
            "warnings": warning_codes(),
        },
        status=200 if healthy else 503,
    )


def warning_codes() -> list[str]:
    try:
        return [notice.code for notice in notices.current()]
    except DatabaseError:  # the database check already says so
        return []
