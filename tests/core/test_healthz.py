"""GET /healthz: database, Redis and the Celery worker's heartbeat; 200 when all are well, 503
when any is not; nothing secret in the body; never throttled; no log line per poll."""

import datetime as dt
import logging
import os
from pathlib import Path

import pytest
import yaml
from django.conf import settings as django_settings
from django.db import OperationalError

from core import clock, healthz
from core.tasks import worker_heartbeat

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent.parent
# Nothing listens on port 1; the password in it must never show in the answer.
DEAD_REDIS = "redis://:hunter2-secret@127.0.0.1:1/2"


@pytest.fixture
def no_redis(settings):
    settings.REDIS_URL = ""


def get(client):
    response = client.get("/healthz")
    return response, response.json()


def test_healthy_with_the_filesystem_transport(client, no_redis):
    worker_heartbeat()
    response, body = get(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True, "state": "ok"}
    assert body["checks"]["redis"] == {
        "ok": True,
        "state": "not_configured",
        "transport": "filesystem",
    }
    worker = body["checks"]["worker"]
    assert worker["ok"] and worker["state"] == "ok"
    assert worker["heartbeat_age_seconds"] <= 1
    assert worker["stale_after_seconds"] == django_settings.HEALTHZ_WORKER_STALE_SECONDS
    assert response["Cache-Control"].startswith("max-age=0")


def test_the_database_down_is_503(client, no_redis, monkeypatch):
    worker_heartbeat()

    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection to server at 10.0.0.5 failed: password=secret")

    monkeypatch.setattr(healthz, "connection", BrokenConnection())
    response, body = get(client)
    assert response.status_code == 503
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == {"ok": False, "state": "unavailable"}
    assert body["checks"]["worker"]["ok"]
    assert "secret" not in response.content.decode()
    assert "10.0.0.5" not in response.content.decode()


def test_redis_that_does_not_answer_is_503_without_its_address(client, settings):
    worker_heartbeat()
    settings.REDIS_URL = DEAD_REDIS
    response, body = get(client)
    assert response.status_code == 503
    assert body["checks"]["redis"] == {"ok": False, "state": "unavailable"}
    assert body["checks"]["database"]["ok"]
    text = response.content.decode()
    assert "hunter2" not in text and "127.0.0.1" not in text and "redis://" not in text


def test_no_heartbeat_yet_is_503(client, no_redis):
    response, body = get(client)
    assert response.status_code == 503
    assert body["checks"]["worker"] == {"ok": False, "state": "no_heartbeat"}


def test_a_stale_heartbeat_is_503(client, no_redis, settings):
    settings.HEALTHZ_WORKER_STALE_SECONDS = 120
    healthz.heartbeat_record(clock.now() - dt.timedelta(seconds=121))
    response, body = get(client)
    assert response.status_code == 503
    worker = body["checks"]["worker"]
    assert worker["state"] == "stale" and not worker["ok"]
    assert worker["heartbeat_age_seconds"] >= 121
    healthz.heartbeat_record(clock.now() - dt.timedelta(seconds=100))
    assert client.get("/healthz").status_code == 200


@pytest.mark.redis
def test_healthy_with_real_redis(client, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    worker_heartbeat()
    response, body = get(client)
    assert response.status_code == 200, body
    assert body["checks"]["redis"] == {"ok": True, "state": "ok"}
    assert body["checks"]["worker"]["state"] == "ok"


def test_healthz_is_not_throttled_and_writes_no_request_log(client, no_redis, settings, caplog):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "public_read": "1/min",
        },
    }
    worker_heartbeat()
    with caplog.at_level(logging.INFO, logger="kezek.request"):
        for _ in range(5):
            assert client.get("/healthz").status_code == 200
    assert [r for r in caplog.records if r.name == "kezek.request"] == []


def test_beat_schedules_the_heartbeat_well_inside_the_threshold():
    job = django_settings.CELERY_BEAT_SCHEDULE["worker-heartbeat"]
    assert job["task"] == "core.tasks.worker_heartbeat"
    assert job["schedule"] * 3 <= django_settings.HEALTHZ_WORKER_STALE_SECONDS


def test_docker_compose_checks_health_through_healthz():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]["healthcheck"]["test"]
    assert any("/healthz" in part for part in web)
    worker = compose["services"]["worker"]["healthcheck"]["test"]
    assert worker[-2:] == ["healthcheck", "worker"]


def run_healthcheck(*args) -> tuple[int, dict]:
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    try:
        call_command("healthcheck", *args, stdout=out)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, json.loads(out.getvalue())


def test_the_healthcheck_command_exits_by_health(no_redis):
    code, body = run_healthcheck()
    assert code == 1 and body["worker"]["state"] == "no_heartbeat"
    assert run_healthcheck("database", "redis")[0] == 0
    worker_heartbeat()
    code, body = run_healthcheck("worker")
    assert code == 0 and set(body) == {"worker"}


def test_the_healthcheck_command_refuses_unknown_checks():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such check: disk"):
        call_command("healthcheck", "disk")


@pytest.mark.django_db(transaction=True)
def test_the_healthcheck_command_asks_the_running_server(live_server, settings):
    settings.REDIS_URL = ""
    settings.ALLOWED_HOSTS = ["portal.example.kz", "localhost"]
    code, body = run_healthcheck("--http", f"{live_server.url}/healthz")
    assert code == 1 and body["status"] == "unhealthy"  # no heartbeat yet: 503 read as unwell
    worker_heartbeat()
    code, body = run_healthcheck("--http", f"{live_server.url}/healthz")
    assert code == 0 and body["status"] == "ok"
    code, body = run_healthcheck("--http", "http://127.0.0.1:1/healthz")
    assert code == 1 and body == {"error": "URLError"}
