"""A fake Telegram Bot API on 127.0.0.1 that records the messages it is asked to send.

Only `sendMessage` is served, at `/bot<token>/sendMessage`; another token answers 401 like
Telegram does. `fail_next` makes the next requests fail, then it recovers. `start_update` builds
the update Telegram posts to our webhook when a person presses Start under a deep link.
"""

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FakeTelegram:
    token: str = "123456789:fake-bot-token"
    messages: list[dict] = field(default_factory=list)
    # Answer the next `fail_next` requests with this HTTP status, then recover.
    fail_status: int = 500
    fail_next: int = 0
    base_url: str = ""

    def texts_to(self, chat_id: int) -> list[str]:
        return [message["text"] for message in self.messages if message["chat_id"] == chat_id]

    def codes_sent_to(self, chat_id: int) -> list[str]:
        return [
            match.group(0)
            for text in self.texts_to(chat_id)
            for match in [re.search(r"\b\d{6}\b", text)]
            if match
        ]


_update_ids = itertools.count(1)


def start_update(
    text: str, *, chat_id: int, language_code: str = "ru", chat_type: str = "private"
) -> dict:
    """The update Telegram sends when someone writes `text` (e.g. `/start <token>`) to the bot."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "from": {
                "id": chat_id,
                "is_bot": False,
                "first_name": "Aigerim",
                "language_code": language_code,
            },
            "chat": {"id": chat_id, "type": chat_type, "first_name": "Aigerim"},
            "text": text,
            "entities": [{"offset": 0, "length": len(text.split(" ")[0]), "type": "bot_command"}],
        },
    }


def start_fake_telegram() -> tuple[FakeTelegram, ThreadingHTTPServer]:
    state = FakeTelegram()
    message_ids = itertools.count(1)

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

        def _error(self, status: int, description: str) -> None:
            self._reply(status, {"ok": False, "error_code": status, "description": description})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if not self.path.startswith(f"/bot{state.token}/"):
                self._error(401, "Unauthorized")
                return
            if self.path != f"/bot{state.token}/sendMessage":
                self._error(404, "Not Found")
                return
            if state.fail_next > 0:
                state.fail_next -= 1
                self._error(state.fail_status, "Internal Server Error")
                return
            try:
                payload = json.loads(raw.decode())
            except ValueError:
                self._error(400, "Bad Request: can't parse JSON")
                return
            if "chat_id" not in payload or not payload.get("text"):
                self._error(400, "Bad Request: chat_id and text are required")
                return
            message_id = next(message_ids)
            state.messages.append(
                {"chat_id": payload["chat_id"], "text": payload["text"], "message_id": message_id}
            )
            self._reply(
                200,
                {
                    "ok": True,
                    "result": {
                        "message_id": message_id,
                        "chat": {"id": payload["chat_id"], "type": "private"},
                        "date": 1_700_000_000,
                        "text": payload["text"],
                    },
                },
            )

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return state, server
