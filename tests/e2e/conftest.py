"""Browser tests: Debian's Chromium driven by Playwright against the live test server.

Screenshots of each step go to test-artifacts/<test name>/ (kept by CI as artifacts and looked
at by people before a journey is called done).
"""

import os
import re
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _artifacts_folder(node_name: str) -> Path:
    return ARTIFACTS / re.sub(r"[^\w.-]+", "_", node_name)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Each run's screenshots replace the previous run's: none of another run is left to mislead."""
    shutil.rmtree(_artifacts_folder(item.name), ignore_errors=True)


@pytest.fixture(scope="session")
def chromium():
    # Playwright's sync API runs an event loop; Django refuses ORM calls from inside one unless
    # told this is fine (the tests call the ORM only between browser steps, never concurrently).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request, live_server):
    context = chromium.new_context(
        base_url=live_server.url, locale="en-US", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    folder = artifacts_of(request)
    shots = iter(range(1, 1000))

    def snap(step: str) -> None:
        page.screenshot(path=str(folder / f"{next(shots):02d}-{step}.png"), full_page=True)

    page.snap = snap
    yield page
    context.close()


def artifacts_of(request) -> Path:
    folder = _artifacts_folder(request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def signed_in_page(chromium, live_server, sign_in_browser, request):
    """`signed_in_page(user, name, **context_options)`: a page of a browser of its own whose
    session is signed in as `user` with a verified second factor (for the people around the
    journey: operators, staff, accountants). Its screenshots go to the test's folder as
    `<name>-NN-<step>.png`."""
    from django.conf import settings
    from django.test import Client

    contexts = []

    def open_page(user, name: str, **options):
        options = {
            "base_url": live_server.url,
            "locale": "en-US",
            "viewport": {"width": 1280, "height": 900},
            **options,
        }
        context = chromium.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        client = sign_in_browser(Client(), user)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                    "url": live_server.url,
                }
            ]
        )
        page = context.new_page()
        folder = artifacts_of(request)
        shots = iter(range(1, 1000))

        def snap(step: str) -> None:
            path = folder / f"{name}-{next(shots):02d}-{step}.png"
            page.screenshot(path=str(path), full_page=True)

        page.snap = snap
        return page

    yield open_page
    for context in contexts:
        context.close()


def wait_until(condition, *, what: str, timeout: float = 30.0):
    """Poll `condition()` until it gives something truthy (the worker's effects arrive on their
    own time); fail saying `what` did not happen."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Within {timeout:.0f} s: {what} did not happen.")
        time.sleep(0.2)


def _forget_broker_connections(app) -> None:
    """Make the app connect anew, to the broker its settings now name. The pools are made once
    and kept; `app.close()` would also unregister the app, and tasks imported after that would
    be unknown to it. Celery clears the same two pools in a forked child."""
    from kombu import pools

    pools.reset()  # kombu's shared pools, one per broker address: closed and forgotten
    app._pool = None
    app.amqp._producer_pool = None


# The journeys' worker takes its tasks from this Redis database, emptied before each journey.
WORKER_REDIS_DB = 4


@pytest.fixture
def celery_worker_process(live_server, fake_twilio, settings, request):
    """A real Celery worker process on Redis, against the test database the live server uses.

    The live server (in this process) sends its tasks to the same Redis database; SMS go to the
    fake Twilio server from both. The worker runs on the real clock, like the live server, so the
    journeys make their data relative to now. Its log is kept beside the screenshots."""
    import signal
    import subprocess
    import sys
    from urllib.parse import quote, urlsplit, urlunsplit

    import redis
    from django.db import connection

    from config.celery import app as celery_app

    parts = urlsplit(os.environ["REDIS_URL"])
    broker = urlunsplit((parts.scheme, parts.netloc, f"/{WORKER_REDIS_DB}", "", ""))
    redis.Redis.from_url(broker).flushdb()

    db = connection.settings_dict
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    database_url = (
        f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": broker,
        # The test database is emptied between tests: no connection is kept open across them.
        "CONN_MAX_AGE": "0",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        # Receipt verification codes are signed with the key: the worker must use the server's.
        "SECRET_KEY": settings.SECRET_KEY,
        "SITE_URL": live_server.url,
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE": fake_twilio.base_url,
        "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "TWILIO_FROM": settings.TWILIO_FROM,
        # A journey lives a carrier's week of bookings, calls and crossings in an hour or two
        # of the clock: more SMS to the owner's phone than A3 lets through in an hour, where
        # every notice would wait for the limit. The limits have tests of their own.
        "SMS_PER_PHONE_PER_HOUR": "100",
        "SMS_PER_PHONE_PER_DAY": "100",
    }
    settings.SMS_PER_PHONE_PER_HOUR = settings.SMS_PER_PHONE_PER_DAY = 100
    log_path = artifacts_of(request) / "celery-worker.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--hostname=e2e@%h",
        ],
        cwd=ARTIFACTS.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    previous_broker = celery_app.conf.broker_url
    celery_app.conf.broker_url = broker
    _forget_broker_connections(celery_app)
    try:
        wait_until(
            lambda: worker.poll() is not None or " ready." in log_path.read_text(),
            what="the Celery worker starting",
            timeout=60,
        )
        if worker.poll() is not None:
            raise RuntimeError(f"The Celery worker exited:\n{log_path.read_text()}")
        yield worker
    finally:
        celery_app.conf.broker_url = previous_broker
        _forget_broker_connections(celery_app)
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: the task at hand finishes
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        log.close()


@pytest.fixture
def carrier_with_history(fake_twilio):
    """A carrier with a booking, money on the account and a receipt, made through the services."""
    import datetime as dt
    from types import SimpleNamespace

    from checkpoints import capacity
    from core import clock
    from fees.services import budget_transfer_make
    from receipts.models import Receipt
    from receipts.services import receipts_issue_for_batch
    from tests.worlds import book, make_world

    world = make_world(fake_twilio)
    world.top_up("200000.00")
    slot = capacity.hour_start(clock.local_today() + dt.timedelta(days=2), 10)
    booking = book(world, start=slot, trailer=world.trailer, drivers=world.drivers[:2])
    for batch in budget_transfer_make():
        receipts_issue_for_batch(batch_id=batch.pk)
    return SimpleNamespace(world=world, booking=booking, receipt=Receipt.objects.get())
