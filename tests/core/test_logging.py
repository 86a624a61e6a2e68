"""Structured logs: JSON lines with timestamp, level, logger, message and request id; a request
line per request with method, path, status, duration and user id, never a query string or a
secret; X-Request-ID in and out; Celery tasks log with their task id; plain text on request."""

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import shared_task

from auth2fa import services
from auth2fa.models import ApiToken
from core.log import logging_config, request_id_from_header

ROOT = Path(__file__).resolve().parent.parent.parent
task_logger = logging.getLogger("tests.core.task")


@pytest.fixture
def json_lines():
    """The project's JSON logging config, writing into a buffer; yields a reader of the lines."""
    stream = io.StringIO()
    config = logging_config(log_format="json", level="INFO")
    config["handlers"]["console"]["stream"] = stream
    previous = logging.getLogger().handlers[:]
    logging.config.dictConfig(config)

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield read
    root = logging.getLogger()
    root.handlers = previous


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "kezek.request"]


@pytest.mark.django_db
def test_a_request_writes_one_json_line_with_its_facts(client, json_lines):
    # Values that cannot turn up by chance in a hex request id or a timestamp.
    response = client.get("/faq/?code=QWERTY-CODE&token=ZZ-TOKEN", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    [line] = request_lines(json_lines())
    assert line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/faq/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["request_id"] == response["X-Request-ID"]
    assert "timestamp" in line and line["timestamp"].startswith("20")
    assert line["message"] == "GET /faq/ 200"
    assert "QWERTY-CODE" not in json.dumps(line) and "ZZ-TOKEN" not in json.dumps(line)


@pytest.mark.django_db
def test_a_signed_in_persons_id_and_never_the_password(client, json_lines, django_user_model):
    client.post(
        "/signin/",
        {"username": "nobody@example.kz", "password": "Sup3r-Secret-Pass"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    lines = json_lines()
    assert request_lines(lines)[0]["path"] == "/signin/"
    assert "Sup3r-Secret-Pass" not in json.dumps(lines)
    user = django_user_model.objects.create_user(
        email="staff@kezek.local", password="x", full_name="Staff"
    )
    issued = services.api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL, name="fleet")
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert me.status_code == 200
    lines = json_lines()
    assert request_lines(lines)[-1]["user_id"] == user.pk
    assert issued.secret not in json.dumps(lines)


@pytest.mark.django_db
def test_secret_url_parts_are_masked(client, settings, json_lines):
    settings.TELEGRAM_WEBHOOK_SECRET = "the-webhook-secret-42"
    client.post("/telegram/webhook/the-webhook-secret-42", {}, content_type="application/json")
    client.get("/invite/invitation-token-99/")
    text = json.dumps(json_lines())
    assert "the-webhook-secret-42" not in text
    assert "invitation-token-99" not in text
    assert "/telegram/webhook/***" in text and "/invite/***/" in text


@pytest.mark.django_db
def test_a_sane_incoming_request_id_is_kept_and_used_in_every_line(client, json_lines):
    incoming = "proxy-7f3a9c1e-0001"
    response = client.get("/faq/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming
    assert request_lines(json_lines())[0]["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "short", "has space in it", "x" * 200, "line\nbreak-1234", "<script>1234"]
)
def test_an_insane_incoming_request_id_is_replaced(incoming):
    generated = request_id_from_header(incoming)
    assert generated != incoming
    assert len(generated) == 32 and generated.isalnum()


@pytest.mark.django_db
def test_each_request_gets_its_own_id(client):
    first, second = client.get("/faq/"), client.get("/faq/")
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.django_db
def test_the_api_answers_with_the_request_id_too(client):
    response = client.get("/api/v1/no-such-thing", HTTP_X_REQUEST_ID="client-chosen-id-1")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "client-chosen-id-1"


@shared_task
def _logging_task() -> None:
    task_logger.warning("inside the task")


def test_celery_tasks_log_with_their_task_id(json_lines, settings):
    result = _logging_task.apply(task_id="task-1234-abcd")
    assert result.successful()
    [line] = [line for line in json_lines() if line["logger"] == "tests.core.task"]
    assert line["task_id"] == "task-1234-abcd"
    assert line["message"] == "inside the task"
    assert line["level"] == "WARNING"


def test_outside_requests_and_tasks_the_ids_are_null(json_lines):
    logging.getLogger("tests.core.plain").warning("hello %s", "there")
    [line] = [line for line in json_lines() if line["logger"] == "tests.core.plain"]
    assert line["message"] == "hello there"
    assert line["request_id"] is None and line["task_id"] is None


def test_log_format_must_be_json_or_plain():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


def _settings_log_format(tmp_path, **env) -> str:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "LOG_FORMAT"}},
        "KEZEK_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 60,
        **env,
    }
    probe = (
        "import django; django.setup(); import logging; from django.conf import settings; "
        "print(settings.LOG_FORMAT); logging.getLogger('probe').warning('probe line')"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1] + "|" + result.stderr.strip()


def test_production_logs_json_and_make_run_plain_text(tmp_path):
    production = _settings_log_format(tmp_path, DEBUG="0")
    fmt, line = production.split("|", 1)
    assert fmt == "json"
    parsed = json.loads(line)
    assert parsed["message"] == "probe line" and parsed["logger"] == "probe"
    development = _settings_log_format(tmp_path, DEBUG="1")
    fmt, line = development.split("|", 1)
    assert fmt == "plain"
    assert "WARNING probe [None] probe line" in line
    assert _settings_log_format(tmp_path, DEBUG="1", LOG_FORMAT="json").startswith("json|{")


@pytest.mark.django_db
def test_djangos_own_request_warnings_carry_the_path_and_request_id_not_the_query(
    client, json_lines
):
    response = client.get("/api/v1/no-such-thing?token=NOT-HEX-TOKEN")
    assert response.status_code == 404
    lines = json_lines()
    [warning] = [line for line in lines if line["logger"] == "django.request"]
    assert warning["path"] == "/api/v1/no-such-thing"
    assert warning["request_id"] == response["X-Request-ID"]
    assert "NOT-HEX-TOKEN" not in json.dumps(lines)
