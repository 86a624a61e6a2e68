"""Helpers for the tests that start whole processes (`make run`, the development server)."""

import socket
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    """Poll `predicate()` until it gives something truthy; fail saying `what` did not come."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last_error}")
