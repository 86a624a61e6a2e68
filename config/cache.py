"""Django's Redis cache with one client object per connection pool, and atomic rate limits.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call (`get_client`), which
costs more than the call's own work on a cached public read (~0.07 ms each, two per read). A
`redis.Redis` over a connection pool is safe to share between threads (each command takes a
connection from the pool), and Django already keeps one pool per server for each cache object
(one per thread: django.core.cache.caches is thread-local),
so the client is kept next to its pool. Nothing else differs: same pools, options, serializer.

Rate limits (core.throttles) count in Redis itself with this cache: a sliding log of the
requests of the window in a sorted set, checked and added to by one script, so concurrent
requests of one client cannot each read the same count and all pass (DRF's own throttle reads
and writes back a pickled history, and parallel requests lose each other's counts). A read of
cache entries and the request's count can go to Redis as one command (`get_many_and_hit`), and
several requests can be counted ahead at once (`rate_limit_reserve`, core.throttles' leases).
Scripts are sent by their SHA1 (EVALSHA), their text only when the server does not hold them.
"""

import hashlib
from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import NoScriptError

# KEYS[1]: the client's log; ARGV: the window in microseconds, the limit. Redis's own clock, so
# that web servers with clocks apart count alike. `reserve` counts up to `wanted` requests at once,
# as many as the limit leaves: answers {granted, 0, µs now, count before}, or {0, µs until the
# oldest request leaves the window} when the limit is reached (and counts nothing, as DRF's
# throttle does). `hit` is a reserve of one: {1, 0} when the request is allowed (and counted).
# Members are "<µs>:<count before it>": a script takes longer than a microsecond, so two never
# share one (unless Redis's clock steps back onto a microsecond it used, with the same count).
# Integers are formatted, never tostring()'d (Lua 5.1 writes 1.7e+15 and would lose the
# microseconds).
_SLIDING_LOG_HIT = """
local function reserve(log, window, limit, wanted)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  redis.call('ZREMRANGEBYSCORE', log, '-inf', string.format('%d', now - window))
  local count = redis.call('ZCARD', log)
  if count < limit then
    local granted = math.min(wanted, limit - count)
    local score = string.format('%d', now)
    -- ZADD in parts: unpack() of one long list could overflow Lua's stack.
    local entries = {}
    for i = 0, granted - 1 do
      entries[#entries + 1] = score
      entries[#entries + 1] = string.format('%d:%d', now, count + i)
      if #entries == 1000 or i == granted - 1 then
        redis.call('ZADD', log, unpack(entries))
        entries = {}
      end
    end
    redis.call('PEXPIRE', log, math.ceil(window / 1000))
    -- The members are "<now>:<count + i>", i = 0 … granted - 1 (to give unused ones back).
    return {granted, 0, now, count}
  end
  local oldest = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
local function hit(log, window, limit)
  local answer = reserve(log, window, limit, 1)
  return {answer[1], answer[2]}
end
"""
_SLIDING_LOG = (
    _SLIDING_LOG_HIT
    + """
return hit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
"""
)
# As _SLIDING_LOG for KEYS[1], then the values of KEYS[2..] (false where missing): a read of cache
# entries and its count in one command.
_SLIDING_LOG_AND_MGET = (
    _SLIDING_LOG_HIT
    + """
local counted = hit(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
local answer = {counted[1], counted[2]}
if #KEYS > 1 then
  local values = redis.call('MGET', unpack(KEYS, 2))
  for i = 1, #KEYS - 1 do answer[i + 2] = values[i] end
end
return answer
"""
)

# As _SLIDING_LOG, for up to ARGV[3] requests at once, after removing the members ARGV[4..]
# (reserved earlier and not used): {granted, 0, now, count before} or {0, µs to wait}.
_SLIDING_LOG_RESERVE = (
    _SLIDING_LOG_HIT
    + """
if #ARGV > 3 then redis.call('ZREM', KEYS[1], unpack(ARGV, 4)) end
return reserve(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
"""
)

# KEYS[1]: the client's log; ARGV[1]: the window in microseconds. How many requests it counts.
_SLIDING_LOG_COUNT = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - tonumber(ARGV[1])), '+inf')
"""


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            # As RedisCacheClient._get_connection_pool, for this index (picked once: with
            # several servers a read picks one at random).
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(
                    self._servers[index], **self._pool_options
                )
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


def _run_script(client, script: str, keys: list[str], *args) -> Any:
    """EVALSHA, and EVAL (which also stores the script) when the server does not hold it."""
    sha = _SCRIPT_SHAS.get(script)
    if sha is None:
        sha = _SCRIPT_SHAS[script] = hashlib.sha1(script.encode()).hexdigest()  # noqa: S324
    try:
        return client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return client.eval(script, len(keys), *keys, *args)


_SCRIPT_SHAS: dict[str, str] = {}

RateLimitHit = tuple[bool, float]  # (allowed, seconds to wait when refused)
RATE_LIMIT_LOG_PREFIX = "ratelimit:"


def _hit(answer: list[int]) -> RateLimitHit:
    allowed, wait_us = answer
    return bool(allowed), int(wait_us) / 1_000_000


class ReusedClientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    def _log_args(self, key: str, limit: int, window_seconds: int) -> tuple:
        # A key of its own, never the one DRF's throttle keeps its pickled history under: a
        # deployment updated while such histories live would otherwise run sorted-set commands
        # on strings (WRONGTYPE, an error on every limited request for up to a window).
        log = self.make_and_validate_key(f"{RATE_LIMIT_LOG_PREFIX}{key}")
        return (log, int(window_seconds * 1_000_000), limit)

    def rate_limit_hit(self, key: str, limit: int, window_seconds: int) -> RateLimitHit:
        """Count a request under `key` unless `limit` requests were counted in the last
        `window_seconds`; atomic (one script)."""
        log, window, limit = self._log_args(key, limit, window_seconds)
        client = self._cache.get_client(write=True)
        return _hit(_run_script(client, _SLIDING_LOG, [log], window, limit))

    def rate_limit_reserve(
        self, key: str, limit: int, window_seconds: int, wanted: int, give_back: list[str] = ()
    ) -> tuple[int, float, list[str]]:
        """Count up to `wanted` requests under `key` at once, as many as `limit` leaves in the
        last `window_seconds`, after taking back `give_back` (members reserved earlier and not
        used); atomic (one script). Answers (how many were counted, seconds to wait, their
        members): (0, the wait, []) when the limit is reached, and then nothing is counted."""
        if wanted < 1:
            # A grant of 0 means a refusal: asking for none would read as one.
            raise ValueError(f"wanted must be at least 1, not {wanted}")
        log, window, limit = self._log_args(key, limit, window_seconds)
        client = self._cache.get_client(write=True)
        answer = _run_script(client, _SLIDING_LOG_RESERVE, [log], window, limit, wanted, *give_back)
        granted, wait_us = int(answer[0]), int(answer[1])
        if not granted:
            return 0, wait_us / 1_000_000, []
        now, count = int(answer[2]), int(answer[3])
        return granted, 0.0, [f"{now}:{count + i}" for i in range(granted)]

    def rate_limit_count(self, key: str, window_seconds: int) -> int:
        """How many requests `key` counts in the last `window_seconds`."""
        log, window, _limit = self._log_args(key, 0, window_seconds)
        client = self._cache.get_client(write=True)
        return int(_run_script(client, _SLIDING_LOG_COUNT, [log], window))

    def get_many_and_hit(
        self, keys: Iterable[str], key: str, limit: int, window_seconds: int
    ) -> tuple[dict[str, Any], RateLimitHit]:
        """`get_many(keys)` and `rate_limit_hit(key, …)` in one command (one script: the count
        is atomic, the reads see the data of that moment)."""
        made = {self.make_and_validate_key(name): name for name in keys}
        log, window, limit = self._log_args(key, limit, window_seconds)
        # Reads and the count go to the server that takes writes.
        client = self._cache.get_client(write=True)
        answer = _run_script(client, _SLIDING_LOG_AND_MGET, [log, *made], window, limit)
        loads = self._cache._serializer.loads
        found = {made[k]: loads(v) for k, v in zip(made, answer[2:], strict=True) if v is not None}
        return found, _hit(answer[:2])
