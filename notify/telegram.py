"""Sending a Telegram message through the Bot API: one small interface, like notify.sms.

With `TELEGRAM_BOT_TOKEN` set, messages go to `{TELEGRAM_API_BASE}/bot<token>/sendMessage`
(Telegram's public API by default), so tests point the base at a fake Bot API server on 127.0.0.1
and nothing leaves the machine. Without a token (development), the console backend logs them.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from notify.console import framed

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10


class TelegramDeliveryError(Exception):
    """The Bot API did not accept the message; the caller may retry later."""


def send_telegram(chat_id: int | str, text: str) -> str:
    """Send `text` to the Telegram chat `chat_id`; returns the message id."""
    token = settings.TELEGRAM_BOT_TOKEN
    if not token:
        return _send_console(chat_id=chat_id, text=text)
    return _send_bot_api(token=token, chat_id=chat_id, text=text)


def _send_console(*, chat_id: int | str, text: str) -> str:
    # Development: the code is read from the console where `make run` prints its logs.
    logger.warning("%s", framed(f"Telegram to chat {chat_id}", text))
    return "console"


def _send_bot_api(*, token: str, chat_id: int | str, text: str) -> str:
    url = f"{settings.TELEGRAM_API_BASE.rstrip('/')}/bot{token}/sendMessage"
    if urllib.parse.urlsplit(url).scheme not in ("https", "http"):
        raise TelegramDeliveryError("TELEGRAM_API_BASE must be an http(s) URL.")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url,
        data=json.dumps({"chat_id": chat_id, "text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            answer = _json(response.read())
    except urllib.error.HTTPError as exc:
        answer = _json(exc.read())
        description = answer.get("description") or exc.reason
        raise TelegramDeliveryError(
            f"Telegram refused the message to {chat_id}: {exc.code} {description}"
        ) from None
    except (OSError, TimeoutError) as exc:
        # Never let the URL (it holds the bot token) reach a log or a traceback.
        reason = str(getattr(exc, "reason", exc)).replace(token, "<token>")
        raise TelegramDeliveryError(f"Telegram could not be reached: {reason}") from None
    if not answer.get("ok"):
        raise TelegramDeliveryError(
            f"Telegram refused the message to {chat_id}: {answer.get('description', answer)}"
        )
    return str((answer.get("result") or {}).get("message_id", ""))


def _json(body: bytes) -> dict:
    try:
        answer = json.loads(body.decode() or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return answer if isinstance(answer, dict) else {}
