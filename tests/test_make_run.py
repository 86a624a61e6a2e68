"""`make run` on the embedded defaults: SQLite and Celery's filesystem transport under var/.

It starts the real thing (migrate, reference and demo data, web + worker + beat through
Procfile.dev) in a scratch var/ directory, reads the home page, and waits for the worker, driven
by beat, to seal the audit events that loading the data wrote.
"""

import os
import signal
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_make_run_serves_the_portal_with_worker_and_beat(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "HOST", "PORT"}
    }
    env.update(
        KEZEK_VAR_DIR=str(tmp_path / "var"),
        PORT=str(port),
    )
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        page = wait_for(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read(),
            timeout=180,
            what="the home page",
        )
        text = page.decode()
        assert "Нур Жолы" in text and "Кордай" in text

        database = tmp_path / "var" / "kezek.sqlite3"

        def sealed_batches() -> int:
            with sqlite3.connect(database) as db:
                return db.execute("SELECT COUNT(*) FROM core_auditbatch").fetchone()[0]

        wait_for(sealed_batches, timeout=90, what="the worker to seal audit events")
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert f"http://127.0.0.1:{port}/" in output
    assert "operator@kezek.local" in output
