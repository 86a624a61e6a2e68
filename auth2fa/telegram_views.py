"""The Telegram webhook: Telegram posts the bot's updates here (POST /telegram/webhook/<secret>).

Thin: check the secret, read the update, hand `/start <token>` to the service, answer 200 at once
(Telegram re-sends an update until it gets a 2xx, so a broken update must not be retried forever).
Register it with `setWebhook` giving `secret_token` = TELEGRAM_WEBHOOK_SECRET, so Telegram also
sends the secret in the X-Telegram-Bot-Api-Secret-Token header.
"""

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from auth2fa import services

logger = logging.getLogger(__name__)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest, secret: str) -> HttpResponse:
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    if not expected or not _same(secret, expected):
        # No webhook here, as far as anyone without the secret can tell.
        return HttpResponse(status=404)
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
    if header is not None and not _same(header, expected):
        return HttpResponse(status=403)
    try:
        update = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        logger.warning("Telegram webhook: the body is not JSON; ignored.")
        return JsonResponse({"ok": True})
    start = _start_command(update)
    if start is not None:
        try:
            services.telegram_link_complete(**start)
        except Exception:
            # Answered 200 all the same: the person presses Start again; a retried update
            # would only fail again.
            logger.exception("Telegram webhook: linking failed.")
    return JsonResponse({"ok": True})


def _start_command(update: object) -> dict | None:
    """`/start <token>` from a chat, as service arguments; None for any other update."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    text, chat = message.get("text"), message.get("chat")
    sender = message.get("from") if isinstance(message.get("from"), dict) else {}
    if not isinstance(text, str) or not isinstance(chat, dict):
        return None
    chat_id = chat.get("id")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        return None
    command, _space, token = text.strip().partition(" ")
    # In a group the command may name the bot: /start@KezekBot.
    if command.split("@", 1)[0] != "/start":
        return None
    return {
        "token": token.strip(),
        "chat_id": chat_id,
        "chat_type": str(chat.get("type") or ""),
        "language": str(sender.get("language_code") or "")[:2],
    }
