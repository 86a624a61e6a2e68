"""Sending an SMS: one small interface, backends `console` (development) and `twilio`.

The Twilio backend talks to `TWILIO_API_BASE` (Twilio's public API by default), so tests point it
at a fake Twilio server on 127.0.0.1 and nothing leaves the machine.
"""

import logging

from django.conf import settings

from notify.console import framed

logger = logging.getLogger(__name__)


class SmsDeliveryError(Exception):
    """The provider did not accept the message; the caller may retry later."""


def send_sms(*, to: str, body: str) -> str:
    """Send `body` to the E.164 number `to`; returns the provider's message id."""
    backend = settings.SMS_BACKEND
    if backend == "console":
        return _send_console(to=to, body=body)
    if backend == "twilio":
        return _send_twilio(to=to, body=body)
    raise SmsDeliveryError(f"Unknown SMS_BACKEND {backend!r}: use 'console' or 'twilio'.")


def _send_console(*, to: str, body: str) -> str:
    # Development: the code is read from the console where `make run` prints its logs.
    logger.warning("%s", framed(f"SMS to {to}", body))
    return "console"


# A hung provider must not outlast the outbox's delivery lease (a second worker would resend).
TWILIO_TIMEOUT_SECONDS = 10


def _twilio_client():
    # Twilio's client is loaded only by the processes that send through it.
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        http_client=TwilioHttpClient(timeout=TWILIO_TIMEOUT_SECONDS),
    )
    client.api.base_url = settings.TWILIO_API_BASE.rstrip("/")
    return client


def _send_twilio(*, to: str, body: str) -> str:
    from twilio.base.exceptions import TwilioException

    try:
        message = _twilio_client().messages.create(to=to, from_=settings.TWILIO_FROM, body=body)
    except TwilioException as exc:
        raise SmsDeliveryError(f"Twilio refused the message to {to}: {exc}") from exc
    except OSError as exc:
        raise SmsDeliveryError(f"Twilio could not be reached: {exc}") from exc
    return message.sid
