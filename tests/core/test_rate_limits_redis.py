"""Rate limits with Redis, as deployed (config.cache): each request is counted by one script,
so parallel requests of one client cannot all pass on one reading of the count, as they do with
DRF's pickled history; the window slides and a refusal counts nothing, as with DRF's."""

import os
import threading
import time
from unittest import mock

import pytest
import redis
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from core.throttles import PublicReadThrottle, SignInThrottle

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PARALLEL = 24
LIMIT = 5


@pytest.fixture
def public_read_rate(settings):
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "public_read": rate,
            },
        }

    return set_rate


def from_address(address: str):
    return RequestFactory().get("/", REMOTE_ADDR=address)


def read(address: str) -> bool:
    return PublicReadThrottle().allow_request(from_address(address), None)


def counted(address: str) -> int:
    return PublicReadThrottle().counted(from_address(address))


def test_the_limit_allows_its_rate_and_a_refusal_counts_nothing(
    redis_cache, public_read_rate, client
):
    public_read_rate("3/min")
    answers = [client.get("/api/v1/checkpoints") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert PublicReadThrottle().counted(refused.wsgi_request) == 3


def test_the_window_slides(redis_cache, public_read_rate):
    public_read_rate("2/s")
    request = from_address("198.51.100.7")
    throttle = PublicReadThrottle()
    assert throttle.allow_request(from_address("198.51.100.7"), None)
    assert PublicReadThrottle().allow_request(from_address("198.51.100.7"), None)
    assert not throttle.allow_request(request, None)
    assert 0 < throttle.wait() <= 1
    time.sleep(throttle.wait() + 0.05)
    assert PublicReadThrottle().allow_request(from_address("198.51.100.7"), None)
    # Another address has a count of its own.
    assert PublicReadThrottle().counted(from_address("198.51.100.8")) == 0


def _parallel_hits(throttle_class, before_start=None, each: int = 1) -> int:
    """How many of PARALLEL simultaneous requests from one address the throttle allows (`each`
    one after another in each of the PARALLEL threads)."""
    start = threading.Barrier(PARALLEL)
    allowed = []

    def hit() -> None:
        start.wait()
        for _ in range(each):
            if throttle_class().allow_request(from_address("203.0.113.50"), None):
                allowed.append(1)

    threads = [threading.Thread(target=hit) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(allowed)


def test_parallel_requests_of_one_client_pass_the_limit_only_up_to_it(
    redis_cache, public_read_rate
):
    public_read_rate(f"{LIMIT}/min")
    assert _parallel_hits(PublicReadThrottle) == LIMIT
    assert PublicReadThrottle().counted(from_address("203.0.113.50")) == LIMIT


def test_the_race_that_drfs_pickled_history_loses(redis_cache, public_read_rate):
    """DRF's throttle reads the history, then writes it back with one more request: when the
    parallel requests all read before any writes (held here at that point), every one passes."""
    public_read_rate(f"{LIMIT}/min")
    read_together = threading.Barrier(PARALLEL)
    real_get = cache.get

    def get_then_wait(*args, **kwargs):
        history = real_get(*args, **kwargs)
        read_together.wait()
        return history

    class HistoryThrottle(SimpleRateThrottle):
        scope = "public_read"

        def get_cache_key(self, request, view):
            return f"race-{request.META['REMOTE_ADDR']}"

    with mock.patch.object(HistoryThrottle, "cache", mock.Mock(get=get_then_wait, set=cache.set)):
        assert _parallel_hits(HistoryThrottle) == PARALLEL  # the limit of 5 did not hold


def test_a_history_left_by_drfs_throttle_does_not_break_the_limit(
    redis_cache, public_read_rate, client
):
    """Updating a running deployment: DRF's throttle kept a pickled history under its key; the
    log in Redis has a key of its own, so the requests are counted, not answered 500."""
    public_read_rate("2/min")
    first = client.get("/api/v1/checkpoints")
    key = PublicReadThrottle().get_cache_key(first.wsgi_request, None)
    cache.set(key, [time.time()] * 5, 60)  # what DRF's SimpleRateThrottle stores there
    assert first.status_code == 200
    assert [client.get("/api/v1/checkpoints").status_code for _ in range(2)] == [200, 429]
    assert cache.get(key) == [pytest.approx(time.time(), abs=60)] * 5  # left alone


def test_a_server_that_lost_its_scripts_still_counts(redis_cache, public_read_rate):
    """Scripts go by their SHA1; a server restarted or flushed gets the text again."""
    public_read_rate("2/min")
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    request = from_address("192.0.2.7")
    assert PublicReadThrottle().allow_request(request, None)
    server.script_flush()
    assert PublicReadThrottle().allow_request(from_address("192.0.2.7"), None)
    server.script_flush()
    assert not PublicReadThrottle().allow_request(from_address("192.0.2.7"), None)
    server.script_flush()
    assert PublicReadThrottle().counted(request) == 2


def test_behind_the_proxy_public_reads_are_left_to_it_and_other_limits_still_count(
    redis_cache, public_read_rate, settings
):
    """PUBLIC_READ_LIMIT_AT_PROXY: the proxy (deploy/nginx) limits public reads per address in
    front of its cache; the portal counts only the other scopes."""
    public_read_rate("2/min")
    settings.PUBLIC_READ_LIMIT_AT_PROXY = True
    assert all(read("198.51.100.60") for _ in range(5))
    assert counted("198.51.100.60") == 0
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sign_in": "2/min",
        },
    }
    sign_in = [
        SignInThrottle().allow_request(from_address("198.51.100.60"), None) for _ in range(3)
    ]
    assert sign_in == [True, True, False]
    settings.PUBLIC_READ_LIMIT_AT_PROXY = False
    assert [read("198.51.100.61") for _ in range(3)] == [True, True, False]


def test_a_test_on_redis_counts_under_a_prefix_of_its_own(settings):
    """Counts on the real Redis outlive a test, a run and a moved clock: a browser journey that
    registered at the deployment's prefix found the hour's registrations of earlier tests and
    runs there, and was refused (429). Each test marked `redis` counts under its own prefix."""
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    assert prefix.startswith("test-")
    assert prefix != os.environ.get("CACHE_KEY_PREFIX", "kezek")
