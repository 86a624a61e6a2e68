"""Rate limits with Redis, as deployed (config.cache): each request is counted by one script,
so parallel requests of one client cannot all pass on one reading of the count, as they do with
DRF's pickled history; the window slides and a refusal counts nothing, as with DRF's. Large limits
are counted in leases (core.throttles): one round trip for up to 32 requests, and still never
more than the limit counted in Redis."""

import os
import threading
import time
from unittest import mock

import pytest
import redis
from django.core.cache import cache, caches
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from config.cache import ReusedClientRedisCache
from core import throttles
from core.throttles import LEASE_SECONDS, PublicReadThrottle, SignInThrottle, lease_size

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

PARALLEL = 24
LIMIT = 5
LARGE_LIMIT = 800  # leased 16 at a time


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


@pytest.fixture
def lease_clock(monkeypatch):
    """The leases' clock (core.throttles.monotonic), standing still until a test moves it: no
    lease runs out while a test counts."""

    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(throttles, "monotonic", clock)
    return clock


@pytest.fixture
def counts_sent(monkeypatch) -> list[str]:
    """The counts sent to Redis, in order: "reserve" (a lease, or its refusal) or "hit" (one)."""
    sent: list[str] = []
    reserve, hit = ReusedClientRedisCache.rate_limit_reserve, ReusedClientRedisCache.rate_limit_hit

    def counting_reserve(self, *args, **kwargs):
        sent.append("reserve")
        return reserve(self, *args, **kwargs)

    def counting_hit(self, *args, **kwargs):
        sent.append("hit")
        return hit(self, *args, **kwargs)

    monkeypatch.setattr(ReusedClientRedisCache, "rate_limit_reserve", counting_reserve)
    monkeypatch.setattr(ReusedClientRedisCache, "rate_limit_hit", counting_hit)
    return sent


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


def test_entries_and_the_count_go_in_one_round_trip(redis_cache, public_read_rate):
    public_read_rate("2/min")
    cache.set_many({"a": {"x": 1}, "b": [2]})
    request = from_address("192.0.2.1")
    sends = []
    real_send = redis.connection.Connection.send_packed_command

    def counting_send(connection, command, *args, **kwargs):
        sends.append(command)
        return real_send(connection, command, *args, **kwargs)

    # Another client's read first: the server then holds the script (sent once by its text).
    PublicReadThrottle().get_many_and_count(from_address("192.0.2.99"), ["a"])
    with mock.patch.object(redis.connection.Connection, "send_packed_command", counting_send):
        found, allowed = PublicReadThrottle().get_many_and_count(request, ["a", "b", "missing"])
    assert len(sends) == 1
    assert b"EVALSHA" in b"".join(sends[0])
    assert (found, allowed) == ({"a": {"x": 1}, "b": [2]}, True)
    # The count taken is remembered on the request: the view's throttle does not count again.
    assert PublicReadThrottle().allow_request(request, None)
    assert PublicReadThrottle().counted(request) == 1
    assert PublicReadThrottle().get_many_and_count(from_address("192.0.2.1"), ["a"])[1]
    assert not PublicReadThrottle().get_many_and_count(from_address("192.0.2.1"), ["a"])[1]


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
    assert PublicReadThrottle().get_many_and_count(request, ["a"])[1]
    server.script_flush()
    assert PublicReadThrottle().get_many_and_count(from_address("192.0.2.7"), ["a"])[1]
    server.script_flush()
    assert not PublicReadThrottle().allow_request(from_address("192.0.2.7"), None)
    server.script_flush()
    assert PublicReadThrottle().counted(request) == 2


# --- Leases: large limits counted ahead, up to 32 requests a round trip ---------------------------


def test_a_reservation_counts_what_the_limit_leaves_and_a_refusal_nothing(redis_cache):
    store = caches["default"]
    assert [store.rate_limit_reserve("reserve-test", 10, 60, 4)[0] for _ in range(3)] == [4, 4, 2]
    granted, wait, members = store.rate_limit_reserve("reserve-test", 10, 60, 4)
    assert (granted, members) == (0, [])
    assert 59 < wait <= 60
    # Ten entries, each its own member, though counted within the same microseconds.
    assert store.rate_limit_count("reserve-test", 60) == 10
    # A hit is a reservation of one.
    assert store.rate_limit_hit("reserve-test", 10, 60) == (False, pytest.approx(wait, abs=1))
    assert store.rate_limit_hit("reserve-test-2", 10, 60) == (True, 0.0)
    with pytest.raises(ValueError):
        store.rate_limit_reserve("reserve-test", 10, 60, 0)


def test_a_large_limit_allows_its_rate_with_one_round_trip_per_lease(
    redis_cache, public_read_rate, lease_clock
):
    public_read_rate(f"{LARGE_LIMIT}/min")
    assert lease_size(LARGE_LIMIT) == 16
    # Another client's read first: the server then holds the script (sent once by its text).
    assert read("192.0.2.99")
    sends = []
    real_send = redis.connection.Connection.send_packed_command

    def counting_send(connection, command, *args, **kwargs):
        sends.append(b"".join(command) if isinstance(command, list) else command)
        return real_send(connection, command, *args, **kwargs)

    with mock.patch.object(redis.connection.Connection, "send_packed_command", counting_send):
        answers = [read("198.51.100.20") for _ in range(LARGE_LIMIT)]
    assert all(answers)
    assert len(sends) == LARGE_LIMIT // 16
    assert all(b"EVALSHA" in command for command in sends)
    assert counted("198.51.100.20") == LARGE_LIMIT
    refused = PublicReadThrottle()
    assert not refused.allow_request(from_address("198.51.100.20"), None)
    assert 0 < refused.wait() <= 60
    assert counted("198.51.100.20") == LARGE_LIMIT


def test_two_processes_sharing_a_limit_together_allow_no_more_than_it(
    redis_cache, public_read_rate, lease_clock
):
    """Each process (its own table of leases here) reserves from the one count in Redis; what
    one holds unused can refuse the other early, by less than a lease."""
    public_read_rate(f"{LARGE_LIMIT}/min")
    processes: list[dict] = [{}, {}]
    allowed = [0, 0]
    allowed_at_first_refusal = None
    for request in range(LARGE_LIMIT + 200):
        process = request % 2
        with mock.patch.object(throttles, "_leases", processes[process]):
            if read("198.51.100.30"):
                allowed[process] += 1
            elif allowed_at_first_refusal is None:
                allowed_at_first_refusal = sum(allowed)
    assert sum(allowed) == LARGE_LIMIT
    assert allowed[0] > 0 and allowed[1] > 0
    assert counted("198.51.100.30") == LARGE_LIMIT
    assert LARGE_LIMIT - (lease_size(LARGE_LIMIT) - 1) <= allowed_at_first_refusal <= LARGE_LIMIT


def test_a_lease_expires_after_lease_seconds_and_its_unused_allowances_go_back_with_the_next(
    redis_cache, public_read_rate, lease_clock, counts_sent
):
    public_read_rate(f"{LARGE_LIMIT}/min")
    assert read("198.51.100.40")
    assert counts_sent == ["reserve"]
    assert counted("198.51.100.40") == 16
    lease_clock.now += LEASE_SECONDS - 0.001
    assert read("198.51.100.40")  # from the lease
    assert counts_sent == ["reserve"]
    lease_clock.now += 0.001
    assert read("198.51.100.40")  # the lease ran out: a new one
    assert counts_sent == ["reserve", "reserve"]
    # Two requests of the first lease were used; its other 14 went back with the new lease.
    assert counted("198.51.100.40") == 2 + 16


def test_a_client_reading_slowly_is_counted_its_reads_not_its_leases(
    redis_cache, public_read_rate, lease_clock
):
    """One read per lease in each of two processes: without the unused allowances given back,
    each read would count a whole lease (16) and the client would be refused after 50 reads of
    a limit of 800."""
    public_read_rate(f"{LARGE_LIMIT}/min")
    processes: list[dict] = [{}, {}]
    for n in range(100):
        with mock.patch.object(throttles, "_leases", processes[n % 2]):
            assert read("198.51.100.80"), n
        lease_clock.now += LEASE_SECONDS  # its process's lease has run out by the next read
    # The reads, and the two last leases' allowances not yet given back.
    assert counted("198.51.100.80") == 100 + 2 * (lease_size(LARGE_LIMIT) - 1)


def test_a_limit_below_100_is_counted_exactly_whatever_leases_there_are(
    redis_cache, public_read_rate, lease_clock, counts_sent
):
    assert [lease_size(limit) for limit in (4, 99, 100)] == [0, 1, 2]
    public_read_rate("4/min")
    key = PublicReadThrottle().get_cache_key(from_address("198.51.100.50"), None)
    throttles._leases[key] = [["planted"] * 100, lease_clock.now + 60]  # ignored: limit small
    assert [read("198.51.100.50") for _ in range(5)] == [True, True, True, True, False]
    assert counts_sent == ["hit"] * 5
    assert counted("198.51.100.50") == 4


def test_only_the_public_reads_are_leased_other_large_limits_count_exactly(
    redis_cache, settings, lease_clock, counts_sent
):
    """A large limit of another scope (booking writes, sign-in…) counts every request on its
    own, so nobody gets a request past it at the edge of a window."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "sign_in": f"{LARGE_LIMIT}/min",
        },
    }
    assert not SignInThrottle.leased and PublicReadThrottle.leased
    for _ in range(20):
        assert SignInThrottle().allow_request(from_address("198.51.100.60"), None)
    assert counts_sent == ["hit"] * 20


def test_parallel_requests_with_leases_pass_a_large_limit_only_up_to_it(
    redis_cache, public_read_rate, lease_clock, counts_sent
):
    """Threads of one process take allowances from one lease and reserve the next one at a
    time (the others wait for it): together never more than the limit, and no thread's lease
    replaces another's unused (only the last one may be left over)."""
    public_read_rate(f"{LARGE_LIMIT}/min")
    each = 50
    assert PARALLEL * each > LARGE_LIMIT
    allowed = _parallel_hits(PublicReadThrottle, each=each)
    assert LARGE_LIMIT - (lease_size(LARGE_LIMIT) - 1) <= allowed <= LARGE_LIMIT
    # Refusals came from Redis, so it counted the whole limit (and a refusal counts nothing).
    assert counted("203.0.113.50") == LARGE_LIMIT
    assert "reserve" in counts_sent


def test_the_threads_of_a_burst_wait_for_their_clients_lease(
    redis_cache, public_read_rate, lease_clock, counts_sent
):
    """A burst of one client's requests in one process: the threads wait for the lease being
    reserved instead of each counting in Redis alone."""
    public_read_rate(f"{LARGE_LIMIT}/min")
    each = 30
    assert PARALLEL * each < LARGE_LIMIT
    assert _parallel_hits(PublicReadThrottle, each=each) == PARALLEL * each
    assert counts_sent.count("hit") < PARALLEL * each // 4


def test_the_lease_table_is_bounded_and_a_dropped_lease_stays_counted(
    redis_cache, public_read_rate, lease_clock, monkeypatch
):
    monkeypatch.setattr(throttles, "LEASE_TABLE_MAX_KEYS", 4)
    public_read_rate(f"{LARGE_LIMIT}/min")
    for n in range(4):
        assert read(f"198.51.100.{60 + n}")
    assert len(throttles._leases) == 4
    # Full: the expired leases make room.
    lease_clock.now += LEASE_SECONDS
    assert read("198.51.100.64")
    assert list(throttles._leases) == [
        PublicReadThrottle().limit_key(from_address("198.51.100.64"))
    ]
    # Full of live leases: all of them go.
    for n in range(5, 9):
        assert read(f"198.51.100.{60 + n}")
    assert len(throttles._leases) == 1
    # The dropped ones' allowances stay counted; their clients reserve again.
    assert counted("198.51.100.65") == 16
    assert read("198.51.100.65")
    assert counted("198.51.100.65") == 32


def test_changed_settings_start_without_leases(redis_cache, public_read_rate):
    public_read_rate(f"{LARGE_LIMIT}/min")
    assert read("198.51.100.70")
    assert throttles._leases
    public_read_rate(f"{LARGE_LIMIT * 2}/min")
    assert not throttles._leases
    assert read("198.51.100.70")
    throttles.clear_leases()
    assert not throttles._leases
