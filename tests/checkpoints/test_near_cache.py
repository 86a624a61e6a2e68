"""This process's copy of the public read answers (checkpoints.near_cache): answered without
Redis while Redis says nothing changed, dropped on a change made here at once and on one made
by any other process as soon as Redis tells the watch, and never used while the watch is down.
"""

import os
import threading
import time

import pytest
import redis

from checkpoints import near_cache, selectors
from checkpoints.near_cache import near
from tests.bookings.conftest import at
from tests.bookings.test_booking_rules import book
from tests.checkpoints import test_public_read_fast_path as fast_path_tests
from tests.checkpoints.test_public_read_fast_path import QUEUE, SLOTS, day_query
from tests.checkpoints.test_public_read_front import CountingApp, get, keep_the_tests_connection

clock = fast_path_tests.clock
world = fast_path_tests.world
keep_the_tests_connection = keep_the_tests_connection

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def wait_until(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def watching(redis_cache):
    """Redis as the cache and this process's watch connected to it."""
    assert wait_until(near.usable)
    yield
    near.stop()


@pytest.fixture
def front_app():
    from checkpoints.front import PublicReadFront

    return PublicReadFront(CountingApp())


@pytest.fixture
def redis_reads(monkeypatch) -> list[list[str]]:
    """The keys of every read of the cached answers from Redis."""
    reads: list[list[str]] = []
    real = selectors._read_with_versions

    def spy(keys, entry, *args, **kwargs):
        reads.append([*keys, entry])
        return real(keys, entry, *args, **kwargs)

    monkeypatch.setattr(selectors, "_read_with_versions", spy)
    return reads


def slots_taken_at_9(front_app) -> int:
    import json

    return json.loads(get(front_app, SLOTS, day_query())[2])["slots"][9]["taken"]


def test_a_kept_answer_is_given_without_asking_redis(watching, front_app, world, redis_reads):
    for _ in range(3):  # the view, the middleware, the front
        assert get(front_app, SLOTS, day_query())[0] == "200 OK"
        assert get(front_app, QUEUE)[0] == "200 OK"
    redis_reads.clear()
    for _ in range(5):
        assert get(front_app, SLOTS, day_query())[0] == "200 OK"
        assert get(front_app, QUEUE)[0] == "200 OK"
    assert redis_reads == []


def test_a_change_made_here_shows_on_the_very_next_read(watching, front_app, world, monkeypatch):
    """Without waiting for Redis's message: the watch's messages are held back here."""
    for _ in range(3):
        assert slots_taken_at_9(front_app) == 0
    real_changed = near_cache.NearCache._changed

    def only_from_this_process(self, redis_keys):
        if threading.current_thread().name != "public-read-stamps":
            real_changed(self, redis_keys)

    monkeypatch.setattr(near_cache.NearCache, "_changed", only_from_this_process)
    book(world, start=at(1, 9))
    assert slots_taken_at_9(front_app) == 1


def test_a_change_made_by_another_process_drops_the_kept_answer(
    watching, front_app, world, monkeypatch
):
    """Another web server replaces a stamp in Redis: the watch hears of it and the entry goes,
    long before NEAR_SECONDS would end it."""
    monkeypatch.setattr(near_cache, "NEAR_SECONDS", 600.0)
    for _ in range(3):
        get(front_app, QUEUE)
    kept = [entry for entry in near._entries if ":json:" in entry or entry.endswith(":json")]
    assert kept
    stamp = near._entries[kept[0]][1][0]  # a Redis key of one of its stamps
    other_process = redis.Redis.from_url(os.environ["REDIS_URL"])
    generation = near.generation
    other_process.set(stamp, "a stamp made elsewhere")
    assert wait_until(lambda: near.get(kept[0]) is None, seconds=2.0)
    assert near.generation > generation


def test_an_answer_read_while_a_stamp_changed_is_not_kept(watching):
    generation = near.generation
    near.forget(["public:v:queue:1"])  # a message came during the read
    near.keep("public:queue:json:X:1", ["public:v:queue:1"], b"old", generation)
    assert near.get("public:queue:json:X:1") is None
    near.keep("public:queue:json:X:1", ["public:v:queue:1"], b"new", near.generation)
    assert near.get("public:queue:json:X:1") == b"new"


def test_a_flushed_database_drops_everything(watching):
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    assert wait_until(lambda: near.get("entry") is None, seconds=2.0)


def test_an_answer_is_kept_for_near_seconds_at_most(watching, monkeypatch):
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    assert near.get("entry") == b"value"
    later = time.monotonic() + near_cache.NEAR_SECONDS + 0.01
    monkeypatch.setattr(near_cache.time, "monotonic", lambda: later)
    assert near.get("entry") is None


def test_a_board_is_kept_at_most_board_near_seconds(watching, front_app, world):
    """The board moves with the clock (kept 10 s in Redis): a process adds at most
    BOARD_NEAR_SECONDS to its age, not NEAR_SECONDS."""
    assert selectors.BOARD_NEAR_SECONDS < near_cache.NEAR_SECONDS
    for _ in range(3):
        get(front_app, QUEUE)
        get(front_app, SLOTS, day_query())
    now = time.monotonic()
    kept = {entry: until - now for entry, (until, _keys, _value) in near._entries.items()}
    boards = [left for entry, left in kept.items() if entry.startswith("public:board")]
    grids = [left for entry, left in kept.items() if not entry.startswith("public:board")]
    assert boards and grids
    assert max(boards) <= selectors.BOARD_NEAR_SECONDS
    assert max(grids) > selectors.BOARD_NEAR_SECONDS


def test_nothing_is_kept_or_answered_while_the_watch_is_down(watching, monkeypatch):
    monkeypatch.setattr(near_cache, "RECONNECT_SECONDS", 0.2)
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    watch = [c for c in server.client_list() if c["id"] == str(near.watch_client_id)]
    assert watch[0]["name"] == near_cache.WATCH_NAME
    server.client_kill_filter(_id=near.watch_client_id)
    assert wait_until(lambda: not near.live, seconds=2.0)
    assert near.get("entry") is None
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    assert near.get("entry") is None
    # It connects again and is used again.
    assert wait_until(lambda: near.live, seconds=3.0)
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    assert near.get("entry") == b"value"
