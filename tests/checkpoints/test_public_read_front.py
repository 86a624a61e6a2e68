"""The public read front (checkpoints.front): a repeat of an anonymous slots or queue read that
the fast path middleware answered is answered before Django, with the headers Django gave that
kind of request, the same body, the same rate limit and its own request id and log line;
everything else reaches Django unchanged."""

import json
import logging

import pytest
from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import RequestFactory, override_settings

from checkpoints import front, selectors
from checkpoints.middleware import valid_slots_queries
from core.throttles import PublicReadThrottle
from tests.bookings.conftest import at
from tests.bookings.test_booking_rules import book
from tests.bookings.test_checkpoint_operations import trucks
from tests.checkpoints import test_public_read_fast_path as fast_path_tests
from tests.checkpoints.test_public_read_fast_path import FAST_PATH, QUEUE, SLOTS, day_query

# The fast path's fixtures (a world with money at a fixed moment, the views' calls, a limit).
clock = fast_path_tests.clock
world = fast_path_tests.world
view_calls = fast_path_tests.view_calls
limit_of_four = fast_path_tests.limit_of_four
exact_limit = fast_path_tests.exact_limit

pytestmark = pytest.mark.django_db

Answer = tuple[str, list[tuple[str, str]], bytes]


class CountingApp:
    """Django's WSGI handler, counting the requests that reach it."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.handler(environ, start_response)


@pytest.fixture(autouse=True)
def keep_the_tests_connection():
    """Django's handler closes a connection inside a transaction when a request starts (as the
    test client, these tests keep the test's own)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def no_templates():
    """No template and no validated query string is left over from another test."""
    front._templates.clear()
    valid_slots_queries.clear()
    yield
    front._templates.clear()


@pytest.fixture
def django_app() -> CountingApp:
    return CountingApp()


@pytest.fixture
def front_app(django_app) -> front.PublicReadFront:
    return front.PublicReadFront(django_app)


@pytest.fixture
def normal_app() -> WSGIHandler:
    """Django without the fast path middleware: the views' own answers, to compare with."""
    with override_settings(MIDDLEWARE=[name for name in settings.MIDDLEWARE if name != FAST_PATH]):
        handler = WSGIHandler()
    # Changed settings empty the templates: start each test without any.
    front._templates.clear()
    return handler


def environ_of(path: str, query: dict | None = None, method: str = "get", **headers) -> dict:
    return getattr(RequestFactory(), method)(path, query or {}, **headers).environ


def call(app, environ: dict) -> Answer:
    started: list = []

    def start_response(status, headers, exc_info=None):
        started.append((status, headers))

    answer = app(environ, start_response)
    try:
        body = b"".join(answer)
    finally:
        if hasattr(answer, "close"):  # as the server does: Django's request_finished
            answer.close()
    ((status, headers),) = started
    return status, headers, body


def get(app, path: str, query: dict | None = None, method: str = "get", **headers) -> Answer:
    return call(app, environ_of(path, query, method, **headers))


def without_request_id(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name != "X-Request-ID"]


def header(answer: Answer, name: str) -> str:
    return dict(answer[1])[name]


def warm_up(front_app, path, query=None, method="get", **headers) -> None:
    """The view fills the cache, then the middleware answers from it (its headers become the
    kind's template): with nothing cached yet, two requests through Django."""
    for _ in range(2):
        assert get(front_app, path, query, method, **headers)[0] == "200 OK"


# --- The same answer as Django's ------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru", "kk"])
@pytest.mark.parametrize("method", ["get", "head"])
@pytest.mark.parametrize("path", [SLOTS, QUEUE])
def test_front_answer_is_djangos_byte_for_byte(
    front_app, django_app, normal_app, world, view_calls, language, method, path
):
    for truck in trucks(world, 3):
        book(world, vehicle=truck, start=at(1, 9))
    query = day_query() if path == SLOTS else None
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    warm_up(front_app, path, query, method, **headers)
    views_before = len(view_calls)

    answered = get(front_app, path, query, method, **headers)
    assert django_app.calls == 2, "the repeat went through Django"
    normal = get(normal_app, path, query, method, **headers)
    assert len(view_calls) == views_before + 1  # only the normal app's view ran

    assert answered[0] == normal[0] == "200 OK"
    assert answered[2] == normal[2]
    assert without_request_id(answered[1]) == without_request_id(normal[1])
    assert header(answered, "Content-Language") == language
    assert header(answered, "Content-Length") == str(len(answered[2]))
    if path == SLOTS:
        assert json.loads(answered[2])["slots"][9]["taken"] == 3
    else:
        assert json.loads(answered[2])["checkpoint"] == "KORDAI"


def test_each_kind_of_request_has_its_own_template(front_app, django_app, world):
    """Another language, Accept header or host is another kind: its first fast answer comes
    from Django, and only then does the front repeat it."""
    warm_up(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="kk")
    get(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="kk")
    assert django_app.calls == 2
    for headers in (
        {"HTTP_ACCEPT_LANGUAGE": "en"},
        {"HTTP_ACCEPT_LANGUAGE": "kk", "HTTP_ACCEPT": "application/json"},
        {"HTTP_ACCEPT_LANGUAGE": "kk", "HTTP_HOST": "localhost"},
    ):
        before = django_app.calls
        first = get(front_app, QUEUE, **headers)
        again = get(front_app, QUEUE, **headers)
        assert django_app.calls == before + 1
        assert without_request_id(first[1]) == without_request_id(again[1])
        assert first[2] == again[2]
    assert header(get(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="en"), "Content-Language") == "en"


def test_a_host_django_refuses_is_never_answered_by_the_front(front_app, django_app, world):
    warm_up(front_app, QUEUE)
    for _ in range(2):
        refused = get(front_app, QUEUE, HTTP_HOST="evil.example")
        assert refused[0].startswith("400")
    assert django_app.calls == 4


def test_the_scheme_behind_the_proxy_is_part_of_the_kind(world, settings):
    """HSTS is sent on https only: a template of plain http is not reused for https."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    django_app = CountingApp()  # SecurityMiddleware reads its settings once
    front_app = front.PublicReadFront(django_app)
    warm_up(front_app, QUEUE)
    plain = get(front_app, QUEUE)
    assert "Strict-Transport-Security" not in dict(plain[1])
    secure = get(front_app, QUEUE, HTTP_X_FORWARDED_PROTO="https")
    assert django_app.calls == 3
    assert header(secure, "Strict-Transport-Security").startswith("max-age=3600")
    assert header(
        get(front_app, QUEUE, HTTP_X_FORWARDED_PROTO="https"), "Strict-Transport-Security"
    )
    assert django_app.calls == 3


def test_changed_settings_forget_the_templates(front_app, django_app, world, settings):
    warm_up(front_app, QUEUE)
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    assert header(get(front_app, QUEUE), "X-Frame-Options") == "SAMEORIGIN"
    assert django_app.calls == 3


def test_templates_are_bounded(front_app, django_app, world, monkeypatch):
    monkeypatch.setattr(front, "TEMPLATES_KEPT", 2)
    warm_up(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="en")
    # The board is cached in every language: the first read of each is the middleware's.
    get(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="ru")
    assert len(front._templates) == 2
    get(front_app, QUEUE, HTTP_ACCEPT_LANGUAGE="kk")
    assert len(front._templates) == 1


# --- Fresh, counted once, logged ------------------------------------------------------------------


def test_a_booking_shows_on_the_next_front_read(front_app, django_app, world):
    def taken_at_9() -> int:
        return json.loads(get(front_app, SLOTS, day_query())[2])["slots"][9]["taken"]

    warm_up(front_app, SLOTS, day_query())
    assert taken_at_9() == 0
    book(world, start=at(1, 9))
    assert taken_at_9() == 1  # the stale entry is a miss: Django's view computes it
    assert taken_at_9() == 1  # and the front answers the new entry
    assert django_app.calls == 3


def test_a_front_read_asks_neither_the_database_nor_django(
    front_app, django_app, world, django_assert_num_queries
):
    warm_up(front_app, SLOTS, day_query())
    warm_up(front_app, QUEUE)
    with django_assert_num_queries(0):
        assert get(front_app, SLOTS, day_query())[0] == "200 OK"
        assert get(front_app, QUEUE)[0] == "200 OK"
    assert django_app.calls == 4


def test_front_and_django_reads_count_against_one_limit_once(
    front_app, django_app, normal_app, world, limit_of_four
):
    warm_up(front_app, QUEUE)  # two counted
    assert get(front_app, QUEUE)[0] == "200 OK"  # the front: the third
    assert get(normal_app, QUEUE)[0] == "200 OK"  # the view: the fourth
    assert django_app.calls == 2
    refused_environ = environ_of(QUEUE)
    refused = call(front_app, refused_environ)
    # The front counted nothing (a refusal counts nothing) and left the answer to Django.
    assert refused[0].startswith("429")
    assert json.loads(refused[2])["error"]["code"] == "throttled"
    assert django_app.calls == 3
    request = type("Request", (), {"META": refused_environ})()
    assert PublicReadThrottle().counted(request) == 4


def test_a_miss_after_the_front_counted_is_not_counted_again(
    front_app, django_app, world, limit_of_four
):
    warm_up(front_app, QUEUE)  # two counted
    selectors.public_reads_changed(checkpoint_id=selectors.public_checkpoint("KORDAI").pk)
    assert get(front_app, QUEUE)[0] == "200 OK"  # counted by the front, computed by the view
    assert django_app.calls == 3
    assert get(front_app, QUEUE)[0] == "200 OK"  # the fourth
    assert get(front_app, QUEUE)[0].startswith("429")


def test_the_front_gives_a_request_id_and_writes_the_request_line(
    front_app, django_app, world, caplog
):
    warm_up(front_app, QUEUE)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="kezek.request"):
        given = get(front_app, QUEUE, HTTP_X_REQUEST_ID="proxy-id-12345")
        made = get(front_app, QUEUE, HTTP_X_REQUEST_ID="bad id\nwith a newline")
    assert django_app.calls == 2
    assert header(given, "X-Request-ID") == "proxy-id-12345"
    assert len(header(made, "X-Request-ID")) == 32
    lines = [record for record in caplog.records if record.name == "kezek.request"]
    assert [(r.method, r.path, r.status, r.user_id) for r in lines] == [
        ("GET", QUEUE, 200, None)
    ] * 2
    assert [r.request_id for r in lines] == ["proxy-id-12345", header(made, "X-Request-ID")]
    assert all(r.duration_ms >= 0 for r in lines)


# --- Everything else reaches Django ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "method", "headers"),
    [
        (QUEUE, None, "get", {"HTTP_AUTHORIZATION": "Bearer whatever"}),
        (QUEUE, None, "get", {"HTTP_COOKIE": "django_language=kk"}),
        (QUEUE, None, "post", {}),
        (QUEUE, None, "get", {"HTTP_ACCEPT": "text/html"}),
        (QUEUE, {"format": "json"}, "get", {}),
        (SLOTS, {"direction": "sideways", "date": "2026-03-21"}, "get", {}),
        ("/api/v1/checkpoints/NOWHERE/queue", None, "get", {}),
        ("/api/v1/checkpoints/KORDAI/queue/", None, "get", {}),
        (QUEUE, None, "get", {"SCRIPT_NAME": "/kezek"}),
    ],
)
def test_requests_the_front_does_not_answer_reach_django(
    front_app, django_app, world, path, query, method, headers
):
    warm_up(front_app, SLOTS, day_query())
    warm_up(front_app, QUEUE)
    get(front_app, path, query, method, **headers)
    get(front_app, path, query, method, **headers)
    assert django_app.calls == 6


def test_a_slots_query_not_yet_validated_goes_to_django_first(front_app, django_app, world):
    warm_up(front_app, SLOTS, day_query())
    # Another date: the middleware validates it once, then the front answers it.
    for _ in range(3):
        assert get(front_app, SLOTS, day_query(2))[0] == "200 OK"
    assert django_app.calls == 3


def test_a_failing_cache_read_goes_to_django(front_app, django_app, world, monkeypatch):
    warm_up(front_app, QUEUE)

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(selectors, "cached_public_board_json", unreachable)
    assert get(front_app, QUEUE)[0] == "200 OK"
    assert django_app.calls == 3


def test_the_deployed_application_is_the_front_before_django(settings):
    settings.SECRET_KEY_IS_GENERATED = False  # config.wsgi refuses the generated key with DEBUG off
    from config import wsgi

    assert isinstance(wsgi.application, front.PublicReadFront)
    assert wsgi.application.app is wsgi.django_application


# --- With Redis, as deployed ----------------------------------------------------------------------


@pytest.mark.redis
def test_with_redis_the_front_answers_and_counts_as_django(
    redis_cache, front_app, django_app, normal_app, world, exact_limit
):
    warm_up(front_app, SLOTS, day_query())
    answered_environ = environ_of(SLOTS, day_query())
    answered = call(front_app, answered_environ)
    normal = get(normal_app, SLOTS, day_query())
    assert django_app.calls == 2
    assert answered[2] == normal[2]
    assert without_request_id(answered[1]) == without_request_id(normal[1])
    request = type("Request", (), {"META": answered_environ})()
    assert PublicReadThrottle().counted(request) == 4


def test_without_redis_no_answer_is_kept_in_the_process(settings):
    """checkpoints.near_cache needs Redis to hear of changes: with another cache (the file cache
    of `make run`, tests) nothing is kept and no watch starts."""
    from checkpoints.near_cache import near

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not near.usable()
    near.keep("entry", ["public:v:cfg:1"], b"value", near.generation)
    assert near.get("entry") is None
    assert near._token is None
