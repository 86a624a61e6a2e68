"""Production settings (DEBUG off, a real SECRET_KEY): cookies and transport are locked down."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

PROBE = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "session_secure": s.SESSION_COOKIE_SECURE, "session_httponly": s.SESSION_COOKIE_HTTPONLY,
    "session_samesite": s.SESSION_COOKIE_SAMESITE, "csrf_secure": s.CSRF_COOKIE_SECURE,
    "hsts": s.SECURE_HSTS_SECONDS, "idle": s.SESSION_COOKIE_AGE,
    "every_request": s.SESSION_SAVE_EVERY_REQUEST, "absolute": s.SESSION_ABSOLUTE_SECONDS,
}))
"""


def _settings(tmp_path, **env) -> dict:
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KEZEK_VAR_DIR": str(tmp_path),
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_cookies_are_secure_httponly_and_samesite(tmp_path):
    production = _settings(tmp_path, DEBUG="0", SECRET_KEY="x" * 50)
    assert production["session_secure"] and production["csrf_secure"]
    assert production["session_httponly"]
    assert production["session_samesite"] == "Lax"
    assert production["hsts"] >= 31536000


def test_sessions_last_30_idle_minutes_and_12_hours_at_most(tmp_path):
    production = _settings(tmp_path, DEBUG="0", SECRET_KEY="x" * 50)
    assert production["idle"] == 30 * 60 and production["every_request"]
    assert production["absolute"] == 12 * 3600


def test_production_server_refuses_to_start_without_a_secret_key(tmp_path):
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}},
        "KEZEK_VAR_DIR": str(tmp_path),
        "DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
