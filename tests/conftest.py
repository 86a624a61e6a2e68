import os
import shutil
import uuid

import pytest
from django.core.servers.basehttp import WSGIServer
from django.db import connection

# Tasks queued by tests that really commit go to an in-memory broker, never to var/ or Redis.
from config.celery import app as celery_app

celery_app.conf.broker_url = "memory://"

# Under libfaketime's "start at" clock (`make test-new-year`), a process a test starts (a Celery
# worker, `make run`) keeps the tests' clock instead of starting it again from the same moment.
os.environ.setdefault("FAKETIME_DONT_RESET", "1")

# The live test server accepts bursts of parallel clients (the slot-rush tests open 64 at once);
# the default listen backlog of 10 would reset the connections beyond it.
WSGIServer.request_queue_size = 128


def _redis_available() -> bool:
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)")
    if item.get_closest_marker("redis") and not _redis_available():
        pytest.skip("needs Redis: set REDIS_URL=redis://… (CI does)")
    if item.get_closest_marker("browser") and not shutil.which("chromium"):
        pytest.skip("needs Chromium at /usr/bin/chromium (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashers are slow on purpose; tests only need passwords to match or not."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Production's manifest storage needs `collectstatic`; tests read the sources directly."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session", autouse=True)
def _plain_http():
    """The test client and the live server speak plain http; production redirects it to https.
    Session-wide, before the live server builds its middleware (which reads the setting once)."""
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _isolated_cache(request, settings):
    """Each test gets an empty cache of its own: tests marked `redis` on the real Redis under a
    prefix of their own (counts such as rate limits outlive a test there, and a run, and a moved
    clock), the others in memory."""
    if request.node.get_closest_marker("redis"):
        request.getfixturevalue("redis_cache")
        return
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"test-{uuid.uuid4()}",
        }
    }


@pytest.fixture
def redis_cache(settings):
    """The real Redis (REDIS_URL) as the cache, as deployed (config.cache), under a key prefix of
    this test's own, removed afterwards (version stamps never expire). For tests marked `redis`."""
    import redis

    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.RateLimitingRedisCache",  # as config/settings.py
            "LOCATION": os.environ["REDIS_URL"],
            "KEY_PREFIX": prefix,
        }
    }
    yield
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


@pytest.fixture
def english():
    """The active language is English (the texts tests compare are the catalog's msgids)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def clock():
    """Time frozen on the booking world's Friday (tests.worlds.NOW), moved by the test."""
    import time_machine

    from tests.worlds import NOW

    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(db, fake_twilio, clock):
    """A carrier ready to book at KORDAI (tests.worlds.make_world)."""
    from tests.worlds import make_world

    return make_world(fake_twilio)


@pytest.fixture
def staff(world):
    """An officer of KORDAI's staff (A5)."""
    from tests.worlds import officer_at

    return officer_at(world.checkpoint)


@pytest.fixture
def eager(settings):
    """Celery tasks run in the process, right when they are queued (after commit here)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): ...` runs what the code queued with on_commit when the block ends, as a
    real commit would (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def fake_twilio(settings):
    """SMS go to a fake Twilio server on 127.0.0.1; `fake_twilio.messages` lists what was sent."""
    from tests.fakes.twilio_server import start_fake_twilio

    state, server = start_fake_twilio()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE = state.base_url
    settings.TWILIO_ACCOUNT_SID = state.account_sid
    settings.TWILIO_AUTH_TOKEN = state.auth_token
    settings.TWILIO_FROM = "+77000000000"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def sign_in_browser():
    """Sign a test client in the way the sign-in page does, with a verified second factor.

    `sign_in_browser(client, user)` gives the person a confirmed TOTP device unless `device` is
    passed; the session passes the session guard (12-hour limit, listed on the security page).
    """
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from auth2fa.middleware import SIGNED_IN_AT
    from auth2fa.services import web_session_start
    from core import clock

    def sign_in(client, user, device=None):
        device = device or TOTPDevice.objects.create(user=user, name="test app", confirmed=True)
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[SIGNED_IN_AT] = clock.now().isoformat()
        session.save()
        web_session_start(
            user=user, session_key=session.session_key, ip="127.0.0.1", user_agent="test client"
        )
        return client

    return sign_in


@pytest.fixture
def fake_telegram(settings):
    """Telegram messages go to a fake Bot API on 127.0.0.1; `fake_telegram.messages` lists them."""
    from tests.fakes.telegram_server import start_fake_telegram

    state, server = start_fake_telegram()
    settings.TELEGRAM_BOT_TOKEN = state.token
    settings.TELEGRAM_API_BASE = state.base_url
    yield state
    server.shutdown()
    server.server_close()
