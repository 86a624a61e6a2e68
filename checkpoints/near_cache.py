"""This process's copy of the public reads' rendered answers, dropped as soon as Redis says a
version stamp they were read under changed.

The public slots and queue answers are kept rendered in Redis under version stamps
(checkpoints.selectors); a read there is one round trip, which costs more than the rest of an
answer from the public read front. Here each process keeps the entries it read, with the Redis
keys of the stamps they were stored under, for at most NEAR_SECONDS.

Redis tells a watch connection of every change of a stamp: `CLIENT TRACKING … BCAST PREFIX` for
the stamps' key prefix, redirected to itself, subscribed to `__redis__:invalidate`. A thread
reads those messages and drops the entries built on a changed stamp (on a flush, all of them).
A change made in this process drops them at once (`forget`, from selectors._replace_versions).

An entry read from Redis is kept only if no message arrived during that read (`generation`):
otherwise a message about a change the read missed could come before the entry is kept.
While the watch is not connected and subscribed, nothing is kept and nothing is answered from
here. It pings every PING_SECONDS; a watch whose server has not answered for about twice that
is dropped and made again. NEAR_SECONDS
bounds what a message lost any other way could leave stale. Redis is the only store that
tracks keys this way; with another cache backend (`make run`'s file cache, tests) this copy is
not used.
"""

import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis.exceptions import ResponseError

logger = logging.getLogger(__name__)

# At most this long an entry is answered from here without asking Redis.
NEAR_SECONDS = 3.0
# At most this many entries are kept (emptied when full).
NEAR_KEPT = 4096
# The watch pings Redis this often and gives up when the answer takes as long.
PING_SECONDS = 2.0
# Waited before the watch connects again after losing its connection (doubled after each
# failure in a row).
RECONNECT_SECONDS = 1.0
INVALIDATE_CHANNEL = b"__redis__:invalidate"
# The watch connection's name in Redis's CLIENT LIST.
WATCH_NAME = "kezek-public-read-stamps"


def _tracking_store():
    """The default cache when it is config.cache's Redis backend, else None."""
    backend = caches["default"]
    return backend if hasattr(backend, "rate_limit_hit") else None


class NearCache:
    def __init__(self, stamps_prefix: str) -> None:
        # The logical prefix of the stamps' cache keys (selectors: "public:v:").
        self.stamps_prefix = stamps_prefix
        self._lock = threading.Lock()
        # entry key → (expires at, monotonic; Redis keys of its stamps; value)
        self._entries: dict[str, tuple[float, tuple[str, ...], Any]] = {}
        # Redis key of a stamp → the entry keys read under it
        self._dependents: dict[str, set[str]] = {}
        self.generation = 0
        self.live = False
        # The watch connection's id in Redis (CLIENT LIST, CLIENT KILL).
        self.watch_client_id: int | None = None
        # What the running watch watches: (process id, Redis prefix, servers), and the token of
        # its start; a watch thread whose token is no longer the current one stops (a fork,
        # changed cache settings in tests).
        self._watching: tuple | None = None
        self._token: object | None = None
        # (id of a cache object, process id) already found to be the watched one: caches are
        # per thread, so one per thread of the process.
        self._checked: set[tuple[int, int]] = set()
        self._refusal_logged = False

    # --- Reads and writes -------------------------------------------------------------------

    def usable(self) -> bool:
        """Whether entries can be answered from and kept here now (starts the watch when it is
        not running in this process)."""
        store = _tracking_store()
        if store is None:
            return False
        checked = (id(store), os.getpid())
        if checked in self._checked:
            return self.live
        identity = (os.getpid(), store.make_key(self.stamps_prefix), tuple(store._servers))
        with self._lock:
            if self._watching != identity:
                self._start_watch(identity, store)
            self._checked.add(checked)
        return self.live

    def get(self, entry: str) -> Any:
        """The value kept for `entry`, or None."""
        found = self._entries.get(entry)
        if found is None or found[0] < time.monotonic() or not self.live:
            return None
        return found[2]

    def keep(
        self,
        entry: str,
        stamp_keys: Iterable[str],
        value: Any,
        generation: int,
        seconds: float | None = None,
    ) -> None:
        """Keep `value`, read from Redis under the stamps `stamp_keys` (logical cache keys)
        when `generation` was current, unless a message came since; for `seconds` at most
        (NEAR_SECONDS unless less is given)."""
        store = _tracking_store()
        if store is None:
            return
        redis_keys = tuple(store.make_key(key) for key in stamp_keys)
        seconds = NEAR_SECONDS if seconds is None else min(seconds, NEAR_SECONDS)
        with self._lock:
            if not self.live or generation != self.generation:
                return
            if len(self._entries) >= NEAR_KEPT:
                self._drop_all()
            self._entries[entry] = (time.monotonic() + seconds, redis_keys, value)
            for key in redis_keys:
                self._dependents.setdefault(key, set()).add(entry)

    def forget(self, stamp_keys: Iterable[str]) -> None:
        """The stamps `stamp_keys` (logical cache keys) changed in this process."""
        store = _tracking_store()
        if store is not None:
            self._changed([store.make_key(key) for key in stamp_keys])

    def _changed(self, redis_keys: list[str] | None) -> None:
        """Stamps changed (None: all of them, the database was flushed)."""
        with self._lock:
            self.generation += 1
            if redis_keys is None:
                self._drop_all()
                return
            for key in redis_keys:
                for entry in self._dependents.pop(key, ()):
                    self._entries.pop(entry, None)

    def _drop_all(self) -> None:
        self._entries.clear()
        self._dependents.clear()

    def _set_live(self, token: object, live: bool) -> None:
        with self._lock:
            if self._token is not token:
                return
            self.generation += 1
            self._drop_all()
            self.live = live

    # --- The watch --------------------------------------------------------------------------

    def _start_watch(self, identity: tuple, store) -> None:
        """Call with the lock held."""
        self._watching = identity
        token = self._token = object()
        self.generation += 1
        self._drop_all()
        self.live = False
        pool = store._cache.get_client(write=True).connection_pool
        # Its own connection to the cache's server (not one of the pool's), speaking RESP2, in
        # which the messages come as replies; reads wait for at most PING_SECONDS.
        options = {**pool.connection_kwargs, "socket_timeout": PING_SECONDS, "protocol": 2}
        thread = threading.Thread(
            target=self._watch,
            args=(token, identity[1], pool.connection_class, options),
            name="public-read-stamps",
            daemon=True,
        )
        thread.start()

    def _watch(self, token: object, prefix: str, connection_class, options: dict) -> None:
        failures = 0
        while self._token is token:
            try:
                self._watch_once(token, prefix, connection_class(**options))
            except ResponseError:
                # The server refuses CLIENT TRACKING (before Redis 6, or the command is not
                # allowed): nothing is kept in the process; said once, asked again rarely.
                failures += 1
                if not self._refusal_logged:
                    self._refusal_logged = True
                    logger.warning(
                        "Public read stamps: Redis refuses the watch; answers are not kept "
                        "in the process",
                        exc_info=True,
                    )
            except Exception:
                # Counted from the last time it was connected.
                failures = 1 if self.live else failures + 1
                logger.warning(
                    "Public read stamps: watch lost (%d in a row), reconnecting",
                    failures,
                    exc_info=True,
                )
            self._set_live(token, False)
            if self._token is token:
                # A server that keeps refusing is asked again ever less often, at most every
                # 30 s.
                time.sleep(min(30.0, RECONNECT_SECONDS * 2 ** max(0, failures - 1)))

    def _watch_once(self, token: object, prefix: str, connection) -> None:
        try:
            connection.connect()
            connection.send_command("CLIENT", "SETNAME", WATCH_NAME)
            connection.read_response()
            connection.send_command("CLIENT", "ID")
            client_id = connection.read_response()
            self.watch_client_id = client_id
            connection.send_command(
                "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", "PREFIX", prefix
            )
            connection.read_response()
            connection.send_command("SUBSCRIBE", INVALIDATE_CHANNEL)
            connection.read_response()  # the subscription
            self._set_live(token, True)
            pinged_at = time.monotonic()
            waiting_for_pong = False
            while self._token is token:
                if connection.can_read(timeout=PING_SECONDS / 4):
                    message = connection.read_response(disable_decoding=True)
                    if message[0] == b"pong":
                        waiting_for_pong = False
                    elif message[0] == b"message" and message[1] == INVALIDATE_CHANNEL:
                        keys = message[2]
                        self._changed(None if keys is None else [key.decode() for key in keys])
                if time.monotonic() - pinged_at >= PING_SECONDS:
                    if waiting_for_pong:
                        raise ConnectionError("no answer to PING")
                    connection.send_command("PING")
                    pinged_at, waiting_for_pong = time.monotonic(), True
        finally:
            connection.disconnect()

    def stop(self) -> None:
        """Stop the watch and forget everything (changed settings)."""
        with self._lock:
            self._watching = None
            self._token = None
            self._checked = set()
            self.live = False
            self.generation += 1
            self._drop_all()


near = NearCache(stamps_prefix="public:v:")


@receiver(setting_changed)
def _stop_on_changed_settings(setting: str, **kwargs) -> None:
    if setting == "CACHES":
        near.stop()
