"""`manage.py check --deploy` is clean with production settings (DEBUG off, a long SECRET_KEY),
and the check really fails when a production setting is weakened."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PRODUCTION_KEY = "k3zek-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2


def deploy_check(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {
        **{
            key: value
            for key, value in os.environ.items()
            # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which production never has.
            if key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
            and not key.startswith(("SECURE_", "SESSION_", "CSRF_"))
        },
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KEZEK_VAR_DIR": str(tmp_path),
        "DEBUG": "0",
        "SECRET_KEY": PRODUCTION_KEY,
        "ALLOWED_HOSTS": "kezek.example.kz",
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    result = deploy_check(tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_deploy_check_fails_when_a_production_setting_is_weakened(tmp_path):
    """Without SSL redirect and HSTS preload the same check reports warnings and fails."""
    result = deploy_check(tmp_path, SECURE_SSL_REDIRECT="0", SECURE_HSTS_PRELOAD="0")
    assert result.returncode != 0
    assert "security.W008" in result.stderr and "security.W021" in result.stderr


def test_plain_http_is_redirected_except_the_health_check(settings, db):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # builds its middleware now, with the redirect on
    page = client.get("/faq/")
    assert page.status_code == 301 and page["Location"] == "https://testserver/faq/"
    assert client.get("/faq/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
