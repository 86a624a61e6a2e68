"""The fast path for the public slots and queue reads (checkpoints.middleware): it answers only
anonymous reads that the cache holds, byte for byte as the DRF views would, counts them against
the same rate limit, and leaves everything else to the views."""

import dataclasses
import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache, caches
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import reverse

from bookings import services
from checkpoints import api, selectors
from checkpoints.middleware import PUBLIC_READ_PATH
from checkpoints.models import Closure
from checkpoints.services import capacity_refresh
from core.throttles import PublicReadThrottle
from tests.bookings.conftest import NOW, at, make_world
from tests.bookings.test_booking_rules import book
from tests.bookings.test_checkpoint_operations import trucks

pytestmark = pytest.mark.django_db

FAST_PATH = "checkpoints.middleware.PublicReadFastPath"
SLOTS = "/api/v1/checkpoints/KORDAI/slots"
QUEUE = "/api/v1/checkpoints/KORDAI/queue"
# Headers that differ between any two answers, whichever path gives them.
PER_REQUEST_HEADERS = {"X-Request-ID"}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(db, fake_twilio, clock):
    made = make_world(fake_twilio)
    made.top_up("100000000.00")
    return made


@pytest.fixture
def staff(world):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser(
        "operator@kezek.kz", None, full_name="Operator", phone="+77020000001"
    )


@pytest.fixture
def view_calls(monkeypatch) -> list[str]:
    """The names of the DRF views that answered (the fast path answers without them)."""
    calls: list[str] = []
    for name, view in (("slots", api.CheckpointSlotsApi), ("queue", api.CheckpointQueueApi)):
        original = view.get

        def spy(self, request, *args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(self, request, *args, **kwargs)

        monkeypatch.setattr(view, "get", spy)
    return calls


@pytest.fixture
def normal_client() -> Client:
    """A client of the same site without the fast path: the answer to compare with."""
    without = [name for name in settings.MIDDLEWARE if name != FAST_PATH]
    assert len(without) == len(settings.MIDDLEWARE) - 1
    normal = Client()
    # Its handler builds its middleware chain now, the other clients' keep the fast path.
    with override_settings(MIDDLEWARE=without):
        normal.handler.load_middleware()
    return normal


def day_query(day_offset: int = 1, **extra: str) -> dict[str, str]:
    return {"direction": "exit", "date": at(day_offset, 0).date().isoformat(), **extra}


def headers_of(response) -> dict[str, str]:
    return {
        name: value for name, value in response.headers.items() if name not in PER_REQUEST_HEADERS
    }


def assert_same_answer(fast, normal) -> None:
    assert fast.status_code == normal.status_code == 200
    assert fast.content == normal.content
    assert headers_of(fast) == headers_of(normal)


# --- The same answer ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_fast_slots_answer_is_byte_for_byte_the_views_answer(
    client, normal_client, world, view_calls, language
):
    for truck in trucks(world, 3):
        book(world, vehicle=truck, start=at(1, 9))
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    client.get(SLOTS, day_query(), **headers)  # fills the cache through the view
    assert view_calls == ["slots"]
    fast = client.get(SLOTS, day_query(), **headers)
    assert view_calls == ["slots"], "the cached read did not take the fast path"
    normal = normal_client.get(SLOTS, day_query(), **headers)
    assert view_calls == ["slots", "slots"]
    assert_same_answer(fast, normal)
    assert fast.json()["slots"][9]["taken"] == 3
    assert fast["Content-Type"] == "application/json"
    assert fast["Content-Language"] == language


def test_fast_slots_answer_is_the_views_for_head_and_other_services(
    client, normal_client, world, view_calls
):
    for query in (day_query(service="accelerated"), day_query(2, direction="entry")):
        client.get(SLOTS, query)
        computed = len(view_calls)
        fast_head, fast_get = client.head(SLOTS, query), client.get(SLOTS, query)
        assert len(view_calls) == computed, "the cached reads did not take the fast path"
        assert_same_answer(fast_head, normal_client.head(SLOTS, query))
        assert_same_answer(fast_get, normal_client.get(SLOTS, query))


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
def test_fast_queue_answer_is_byte_for_byte_the_views_answer(
    client, normal_client, world, staff, clock, view_calls, language
):
    booked = [book(world, vehicle=truck, start=at(1, 9)) for truck in trucks(world, 3)]
    clock.move_to(at(1, 8))
    for booking in booked:
        services.booking_mark_arrived(booking=booking, actor=staff)
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    client.get(QUEUE, **headers)
    fast = client.get(QUEUE, **headers)
    normal = normal_client.get(QUEUE, **headers)
    assert view_calls == ["queue", "queue"]
    assert_same_answer(fast, normal)
    assert len(fast.json()["waiting"]) == 3


def test_bookable_is_worked_out_on_every_fast_read(client, world, clock, view_calls):
    """`bookable` moves with the clock; the cached grid must not freeze it."""
    first = client.get(SLOTS, day_query(0)).json()["slots"]
    client.get(SLOTS, day_query(0))
    # Within the cache's lifetime, past the start of the next hour's booking window (C4).
    clock.move_to(NOW + dt.timedelta(minutes=2))
    later = client.get(SLOTS, day_query(0)).json()["slots"]
    assert view_calls == ["slots"]
    assert sum(slot["bookable"] for slot in later) < sum(slot["bookable"] for slot in first)


@pytest.mark.parametrize(
    "moment",
    [
        NOW,
        NOW + dt.timedelta(minutes=2),  # the next hour leaves the booking window
        at(0, 13) - dt.timedelta(hours=1),  # 13:00 is exactly the earliest bookable start
        at(30, 12) - dt.timedelta(days=30),  # 12:00 thirty days on is exactly the latest
        at(0, 11) - dt.timedelta(hours=1, microseconds=1),  # 11:00 one microsecond inside
    ],
)
def test_fast_bookable_flags_are_the_views_at_every_moment(
    client, normal_client, world, clock, view_calls, moment
):
    """The cache keeps the grid rendered with `bookable` left open; the flags filled in at the
    read are the view's, at the edges of the booking window (C4) too, for closed and full
    hours as well."""
    Closure.objects.create(
        checkpoint=world.checkpoint, starts_at=at(0, 14), ends_at=at(0, 16), reason="works"
    )
    for offset in (0, 30):
        capacity_refresh(checkpoint=world.checkpoint, dates=[at(offset, 0).date()])
    queries = [day_query(0), day_query(30), day_query(0, service="accelerated")]
    clock.move_to(moment)
    for query in queries:
        client.get(SLOTS, query)
    computed = len(view_calls)
    fast = [client.get(SLOTS, query) for query in queries]
    assert len(view_calls) == computed, "the cached reads did not take the fast path"
    for query, answer in zip(queries, fast, strict=True):
        assert_same_answer(answer, normal_client.get(SLOTS, query))
    flags = [slot["bookable"] for slot in client.get(SLOTS, day_query(0)).json()["slots"]]
    assert True in flags and False in flags


def test_the_rendered_grid_is_the_serializers_for_any_now(world):
    """RenderedDayGrid.render against the serializer of `_bookable_now`'s grid, minute by
    minute over a day, with closed hours and a full one."""
    grid = selectors.day_grid(
        checkpoint=world.checkpoint, direction="exit", date=at(0, 0).date(), service="regular"
    )
    slots = list(grid.slots)
    slots[3] = dataclasses.replace(slots[3], closed=True, capacity=0, free=0)
    slots[15] = dataclasses.replace(slots[15], taken=slots[15].capacity, free=0)
    grid = dataclasses.replace(grid, slots=slots)
    rendered = selectors.RenderedDayGrid.of(grid)
    assert rendered is not None and len(rendered.parts) == len(slots) + 1
    start = at(0, 0) - dt.timedelta(hours=2)
    for minutes in range(0, 26 * 60, 7):
        now = start + dt.timedelta(minutes=minutes, microseconds=minutes % 3)
        with time_machine.travel(now, tick=False):
            expected = api.render_day_grid(selectors._bookable_now(grid))
        assert rendered.render(now) == expected


def test_an_entry_cached_without_its_rendering_is_made_again(client, world, view_calls):
    """The rendered answer is an entry of its own next to the grid's: without it (evicted, or
    the grid stored before it existed) the fast path leaves the read to the view, which stores
    both again, and the fast path answers the next read."""
    client.get(SLOTS, day_query())
    checkpoint = selectors.public_checkpoint("KORDAI")
    name, _versions = selectors._slots_entry("exit", at(1, 0).date(), "regular")
    entry = selectors._entry_key(name, checkpoint.code, checkpoint.pk)
    rendered = selectors._prepared_key(name, checkpoint.code, checkpoint.pk)
    versions, _grid = cache.get(entry)
    assert cache.get(rendered)[0] == versions
    cache.delete(rendered)
    client.get(SLOTS, day_query())
    assert view_calls == ["slots", "slots"]
    assert cache.get(rendered)[0] == versions
    client.get(SLOTS, day_query())
    assert view_calls == ["slots", "slots"]


def test_remembered_query_strings_are_only_valid_ones_and_bounded(rf, world, monkeypatch):
    """The fast path remembers the slots parameters the view accepts, by query string, and no
    more than VALID_QUERIES_KEPT of them; a refused query is never remembered."""
    from checkpoints import middleware

    monkeypatch.setattr(middleware, "VALID_QUERIES_KEPT", 2)
    middleware.valid_slots_queries.clear()
    fast_path = middleware.PublicReadFastPath(lambda request: HttpResponse(b"the view"))
    for offset in (1, 2, 3):  # nothing cached: the view answers, the parameters are kept
        assert fast_path(rf.get(SLOTS, day_query(offset))).content == b"the view"
    bad = rf.get(SLOTS, {"direction": "sideways", "date": at(1, 0).date().isoformat()})
    assert fast_path(bad).content == b"the view"
    assert middleware.valid_slots_queries == {
        rf.get(SLOTS, day_query(3)).META["QUERY_STRING"]: {
            "direction": "exit",
            "date": at(3, 0).date(),
            "service": "regular",
        }
    }


# --- No database, and every change on the next read ----------------------------------------------


def test_a_warm_fast_read_asks_the_database_nothing(
    client, world, view_calls, django_assert_num_queries
):
    client.get(SLOTS, day_query())
    client.get(QUEUE)
    with django_assert_num_queries(0):
        assert client.get(SLOTS, day_query()).status_code == 200
        assert client.get(QUEUE).status_code == 200
    assert view_calls == ["slots", "queue"]


def test_a_booking_shows_on_the_next_fast_read(client, world, view_calls):
    def taken_at_9() -> int:
        return client.get(SLOTS, day_query()).json()["slots"][9]["taken"]

    assert taken_at_9() == 0
    assert taken_at_9() == 0
    book(world, start=at(1, 9))
    assert taken_at_9() == 1
    assert taken_at_9() == 1
    # Computed once before and once after the booking; the repeats came from the fast path.
    assert view_calls == ["slots", "slots"]


def test_a_closure_shows_on_the_next_fast_read(client, world):
    client.get(SLOTS, day_query())
    assert not client.get(SLOTS, day_query()).json()["slots"][14]["closed"]
    Closure.objects.create(
        checkpoint=world.checkpoint, starts_at=at(1, 14), ends_at=at(1, 16), reason="works"
    )
    capacity_refresh(checkpoint=world.checkpoint, dates=[at(1, 0).date()])
    slots = client.get(SLOTS, day_query()).json()["slots"]
    assert slots[14]["closed"] and slots[15]["closed"] and not slots[16]["closed"]


def test_an_arrival_shows_on_the_next_fast_queue_read(client, world, staff, clock):
    booking = book(world, start=at(1, 9))
    clock.move_to(at(1, 8))
    client.get(QUEUE)
    assert client.get(QUEUE).json()["waiting"] == []
    services.booking_mark_arrived(booking=booking, actor=staff)
    assert len(client.get(QUEUE).json()["waiting"]) == 1


# --- The rate limit -------------------------------------------------------------------------------


@pytest.fixture
def limit_of_four(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "4/min",
        },
    }


def test_fast_and_normal_reads_count_against_one_limit(
    client, normal_client, world, view_calls, limit_of_four
):
    assert client.get(SLOTS, day_query()).status_code == 200  # normal path: fills the cache
    assert client.get(SLOTS, day_query()).status_code == 200  # fast path
    assert client.get(QUEUE).status_code == 200  # normal path: fills the cache
    assert client.get(QUEUE).status_code == 200  # fast path: the fourth
    assert view_calls == ["slots", "queue"]
    throttled_fast = client.get(SLOTS, day_query())
    throttled_normal = normal_client.get(QUEUE)
    for refused in (throttled_fast, throttled_normal):
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "throttled"
        assert 1 <= int(refused["Retry-After"]) <= 61
    assert throttled_fast.content == throttled_normal.content
    # Four counted, refusals not at all, nothing counted twice.
    assert PublicReadThrottle().counted(throttled_fast.wsgi_request) == 4


def test_a_cache_miss_is_counted_once(client, world, view_calls, limit_of_four):
    """The fast path counts only what it answers; a miss is counted by the view alone."""
    client.get(SLOTS, day_query())
    client.get(SLOTS, day_query(2))
    counted = PublicReadThrottle().counted(client.get(QUEUE).wsgi_request)
    assert view_calls == ["slots", "slots", "queue"]
    assert counted == 3


# --- Everything else goes to the views -----------------------------------------------------------


@pytest.fixture
def warm(client, world, view_calls) -> list[str]:
    client.get(SLOTS, day_query())
    client.get(QUEUE)
    view_calls.clear()
    return view_calls


def test_a_request_with_authorization_goes_to_the_view(client, warm):
    response = client.get(SLOTS, day_query(), HTTP_AUTHORIZATION="Bearer whatever")
    assert response.status_code == 200
    client.get(QUEUE, HTTP_AUTHORIZATION="Bearer whatever")
    assert warm == ["slots", "queue"]


def test_a_request_with_a_session_cookie_goes_to_the_view(client, warm):
    client.cookies[settings.SESSION_COOKIE_NAME] = "not-a-session"
    assert client.get(SLOTS, day_query()).status_code == 200
    assert client.get(QUEUE).status_code == 200
    assert warm == ["slots", "queue"]


@pytest.mark.parametrize(
    "query",
    [
        {"direction": "sideways", "date": "2026-03-21"},
        {"direction": "exit", "date": "21.03.2026"},
        {"direction": "exit"},
        {"direction": "exit", "date": "2026-03-21", "service": "vip"},
    ],
)
def test_bad_parameters_get_the_views_error_in_the_users_language(
    client, normal_client, warm, query
):
    fast = client.get(SLOTS, query, HTTP_ACCEPT_LANGUAGE="kk")
    normal = normal_client.get(SLOTS, query, HTTP_ACCEPT_LANGUAGE="kk")
    assert fast.status_code == 400
    assert fast.json()["error"]["code"] == "validation_error"
    assert fast.content == normal.content
    assert warm == ["slots", "slots"]


def test_an_unknown_checkpoint_gets_the_views_404(client, warm):
    for path in ("/api/v1/checkpoints/NOWHERE/slots", "/api/v1/checkpoints/NOWHERE/queue"):
        response = client.get(path, day_query())
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_cache_miss_goes_to_the_view(client, warm):
    cache.clear()
    assert client.get(SLOTS, day_query()).status_code == 200
    assert client.get(QUEUE).status_code == 200
    assert warm == ["slots", "queue"]


def test_a_failing_cache_read_in_the_fast_path_goes_to_the_view(client, warm, monkeypatch):
    """Redis refusing the fast path's read (or any other error there): the view answers, with
    whatever the normal path makes of it."""

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(selectors, "cached_public_day_grid_json", unreachable)
    monkeypatch.setattr(selectors, "cached_public_board_json", unreachable)
    assert client.get(SLOTS, day_query()).status_code == 200
    assert client.get(QUEUE).status_code == 200
    assert warm == ["slots", "queue"]


def test_other_accept_headers_and_formats_go_to_the_view(client, warm):
    # DRF refuses it before the view's method runs.
    assert client.get(SLOTS, day_query(), HTTP_ACCEPT="text/html").status_code == 406
    indented = client.get(SLOTS, day_query(), HTTP_ACCEPT="application/json; indent=2")
    assert indented.content.startswith(b"{\n")
    client.get(SLOTS, day_query(format="json"))
    assert warm == ["slots", "slots"]


def test_the_fast_path_matches_exactly_the_two_routes():
    slots = reverse("api-checkpoint-slots", kwargs={"code": "KORDAI"})
    queue = reverse("api-checkpoint-queue", kwargs={"code": "KORDAI"})
    assert PUBLIC_READ_PATH.fullmatch(slots)["what"] == "slots"
    assert PUBLIC_READ_PATH.fullmatch(queue)["what"] == "queue"
    for other in (slots + "/", "/api/v1/checkpoints/KORDAI/slots\n", "/api/v1/checkpoints"):
        assert PUBLIC_READ_PATH.fullmatch(other) is None


# --- With Redis, as deployed ----------------------------------------------------------------------


@pytest.fixture
def exact_limit(settings):
    """A public read limit below 100 a minute: counted one request at a time, never leased
    (core.throttles), so the count in Redis is the number of reads."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "60/min",
        },
    }


@pytest.mark.redis
def test_with_redis_the_fast_answer_and_the_count_are_the_views(
    redis_cache, client, normal_client, world, view_calls, exact_limit
):
    client.get(SLOTS, day_query())
    fast = client.get(SLOTS, day_query())
    normal = normal_client.get(SLOTS, day_query())
    assert view_calls == ["slots", "slots"]
    assert_same_answer(fast, normal)
    assert PublicReadThrottle().counted(fast.wsgi_request) == 3


@pytest.mark.redis
def test_with_redis_one_client_serves_every_call_of_a_cache(redis_cache):
    """config.cache keeps the client Django's backend would build for every call."""
    from config.cache import ReusedClientRedisCache

    backend = caches["default"]
    assert isinstance(backend, ReusedClientRedisCache)
    client = backend._cache.get_client()
    cache.set("a", [1.5])
    assert cache.get_many(["a", "b"]) == {"a": [1.5]}
    assert cache.add("b", "x") and cache.get("b") == "x"
    assert backend._cache.get_client(write=True) is client
    assert backend._cache.get_client("a") is client
