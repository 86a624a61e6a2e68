"""Django's Redis cache, with rate limits counted atomically in Redis itself.

A limit is a sliding log of the requests of the window in a sorted set, checked and added to by
one script, so concurrent requests of one client cannot each read the same count and all pass
(DRF's own throttle reads and writes back a pickled history, and parallel requests lose each
other's counts). redis-py's Script sends the script by its SHA1 and loads it when the server
does not hold it.
"""

from django.core.cache.backends.redis import RedisCache
from redis.commands.core import Script

# KEYS[1]: the client's log; ARGV: the window in microseconds, the limit. Redis's own clock, so
# that web servers with clocks apart count alike. Answers {1, 0} when the request is allowed (and
# counted), {0, µs until the oldest request leaves the window} when the limit is reached (and
# counts nothing, as DRF's throttle does). Members are "<µs>:<count before it>": a script takes
# longer than a microsecond, so two never share one. Integers are formatted, never tostring()'d
# (Lua 5.1 writes 1.7e+15 and would lose the microseconds).
_SLIDING_LOG_HIT = Script(
    None,
    b"""
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%d', now), string.format('%d:%d', now, count))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
""",
)

# KEYS[1]: the client's log; ARGV[1]: the window in microseconds. How many requests it counts.
_SLIDING_LOG_COUNT = Script(
    None,
    b"""
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
return redis.call('ZCOUNT', KEYS[1], string.format('(%d', now - tonumber(ARGV[1])), '+inf')
""",
)

RateLimitHit = tuple[bool, float]  # (allowed, seconds to wait when refused)
RATE_LIMIT_LOG_PREFIX = "ratelimit:"


class RateLimitingRedisCache(RedisCache):
    def _log_key(self, key: str) -> str:
        # A key of its own, never the one DRF's throttle keeps its pickled history under: a
        # deployment updated while such histories live would otherwise run sorted-set commands
        # on strings (WRONGTYPE, an error on every limited request for up to a window).
        return self.make_and_validate_key(f"{RATE_LIMIT_LOG_PREFIX}{key}")

    def rate_limit_hit(self, key: str, limit: int, window_seconds: int) -> RateLimitHit:
        """Count a request under `key` unless `limit` requests were counted in the last
        `window_seconds`; atomic (one script)."""
        client = self._cache.get_client(write=True)
        allowed, wait_us = _SLIDING_LOG_HIT(
            keys=[self._log_key(key)], args=[int(window_seconds * 1_000_000), limit], client=client
        )
        return bool(allowed), int(wait_us) / 1_000_000

    def rate_limit_count(self, key: str, window_seconds: int) -> int:
        """How many requests `key` counts in the last `window_seconds`."""
        client = self._cache.get_client(write=True)
        return int(
            _SLIDING_LOG_COUNT(
                keys=[self._log_key(key)], args=[int(window_seconds * 1_000_000)], client=client
            )
        )
