"""The web server of `make run` (runserver on the embedded defaults) holds a burst of clients.

Django's own development server listens with a backlog of 10: of 200 clients connecting at once,
some waited past any sensible timeout or were reset before reaching Django. Ours listens with
128 (core/management/commands/runserver.py).
"""

import collections
import http.client
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.management.commands.runserver import LISTEN_BACKLOG
from tests.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
BURST = 200


def _burst(port: int, clients: int) -> collections.Counter:
    """`clients` connections opened at the same instant, each asking for /healthz once."""
    answers: collections.Counter = collections.Counter()
    lock = threading.Lock()
    start = threading.Barrier(clients)

    def one() -> None:
        start.wait()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            outcome = "answered"
        except OSError as exc:  # reset, refused, timed out
            outcome = type(exc).__name__
        with lock:
            answers[outcome] += 1

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.slow
def test_make_runs_web_server_answers_a_burst_of_clients_without_a_reset(tmp_path):
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    }
    env.update(KEZEK_VAR_DIR=str(tmp_path / "var"), DEBUG="1")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
            timeout=60,
            what="runserver to listen",
        )
        listening = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        # For a listening socket, ss shows the backlog as its Send-Q (the third column).
        assert int(listening[2]) == LISTEN_BACKLOG
        assert _burst(port, BURST) == {"answered": BURST}
    finally:
        server.terminate()
        server.wait(timeout=30)
