"""A fake Twilio REST API on 127.0.0.1 that records the messages it is asked to send."""

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class FakeTwilio:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = "fake-token"
    messages: list[dict] = field(default_factory=list)
    # Answer the next `fail_next` requests with this HTTP status, then recover.
    fail_status: int = 500
    fail_next: int = 0
    base_url: str = ""

    def codes_sent_to(self, phone: str) -> list[str]:
        import re

        return [
            match.group(0)
            for message in self.messages
            if message["To"] == phone
            for match in [re.search(r"\b\d{6}\b", message["Body"])]
            if match
        ]


def start_fake_twilio() -> tuple[FakeTwilio, ThreadingHTTPServer]:
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            expected = f"/2010-04-01/Accounts/{state.account_sid}/Messages.json"
            credentials = base64.b64encode(
                f"{state.account_sid}:{state.auth_token}".encode()
            ).decode()
            if self.headers.get("Authorization") != f"Basic {credentials}":
                self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                return
            if self.path != expected:
                self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
                return
            if state.fail_next > 0:
                state.fail_next -= 1
                self._reply(
                    state.fail_status,
                    {"code": 30001, "message": "Queue overflow", "status": state.fail_status},
                )
                return
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            sid = "SM" + uuid.uuid4().hex
            state.messages.append({**form, "sid": sid})
            self._reply(
                201,
                {
                    "sid": sid,
                    "account_sid": state.account_sid,
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return state, server
