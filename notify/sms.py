"""Sending an SMS: one way out, counted per phone, to served countries only (A3, A8).

Every SMS the portal sends — sign-in and registration codes, invitations, the outbox's notices to
carriers and drivers — needs an `SmsAllowance`, and only `sms_allowance_take` makes one: it counts
the SMS against the phone's limits (5 an hour, 20 a day, whoever sends them and why), refuses a
phone outside SMS_ALLOWED_COUNTRY_CODES, and records the SMS, in the caller's transaction under
the phone's lock. So no path can send more to a phone than A3 allows, nor reach a country the
deployment does not serve. Per-carrier and per-address limits stay with the features that know
the carrier and the address (invitations, registration).

Backends: `console` (development) and `twilio`. The Twilio backend talks to `TWILIO_API_BASE`
(Twilio's public API by default), so tests point it at a fake Twilio server on 127.0.0.1 and
nothing leaves the machine.
"""

import dataclasses
import datetime as dt
import logging
import math

from django.conf import settings

from auth2fa.models import SmsSent
from carriers.sms_countries import is_served_phone
from core import clock
from core.locks import require_transaction
from notify import locks
from notify.console import framed

logger = logging.getLogger(__name__)

# Everything else may use the limits only up to this many SMS short of them: a busy day of
# notices (bookings made, vehicles called) never leaves a person without a sign-in code.
SMS_KEPT_FOR_CODES = 2
CODE_PURPOSES = frozenset({"sign_in", "registration"})


class SmsDeliveryError(Exception):
    """The provider did not accept the message; the caller may retry later."""


class SmsRefused(Exception):
    """The SMS may not go: the phone's country is not served (`wait_seconds` None), or the
    phone had its SMS for the hour or the day (`wait_seconds` until one more fits)."""

    def __init__(self, message: str, *, wait_seconds: int | None = None) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


@dataclasses.dataclass(frozen=True)
class SmsAllowance:
    """One SMS to `phone`, counted (only `sms_allowance_take` makes one)."""

    phone: str
    purpose: str
    granted_at: dt.datetime
    record_id: int | None = None


def sms_wait_seconds(phone: str, now: dt.datetime, *, kept_for_codes: int = 0) -> int | None:
    """Seconds until one more SMS to `phone` fits under A3's limits less `kept_for_codes` of
    them, or None when it fits now."""
    per_day = settings.SMS_PER_PHONE_PER_DAY - kept_for_codes
    per_hour = settings.SMS_PER_PHONE_PER_HOUR - kept_for_codes
    sent = SmsSent.objects.filter(phone=phone, sent_at__gt=now - dt.timedelta(days=1))
    in_day = sorted(sent.values_list("sent_at", flat=True))
    in_hour = [at for at in in_day if at > now - dt.timedelta(hours=1)]
    free_at = None
    if len(in_day) >= per_day:
        free_at = in_day[len(in_day) - per_day] + dt.timedelta(days=1)
    elif len(in_hour) >= per_hour:
        free_at = in_hour[len(in_hour) - per_hour] + dt.timedelta(hours=1)
    if free_at is None:
        return None
    return max(1, math.ceil((free_at - now).total_seconds()))


def sms_allowance_take(phone: str, *, purpose: str, now: dt.datetime | None = None) -> SmsAllowance:
    """Count one SMS to `phone` for `purpose`, or raise SmsRefused. Runs in the caller's
    transaction and holds the phone's lock to its end, so parallel senders are counted one by
    one; the count stands even if the provider then fails (it was tried, and may have cost)."""
    require_transaction("Counting an SMS")
    now = now or clock.now()
    if not is_served_phone(phone):
        raise SmsRefused(f"Kezek sends no SMS to {phone[:4]}…: its country is not served.")
    locks.phone(phone)
    kept = 0 if purpose in CODE_PURPOSES else SMS_KEPT_FOR_CODES
    wait = sms_wait_seconds(phone, now, kept_for_codes=kept)
    if wait is not None:
        raise SmsRefused(
            f"{phone[:4]}… had its SMS for now (A3); one more fits in {wait} s.", wait_seconds=wait
        )
    record = SmsSent.objects.create(
        phone=phone, sent_at=now, purpose=purpose[: SmsSent.PURPOSE_MAX]
    )
    return SmsAllowance(phone=phone, purpose=purpose, granted_at=now, record_id=record.pk)


def send_sms(allowance: SmsAllowance, body: str) -> str:
    """Send `body` to the allowance's phone; returns the provider's message id. Send it after
    the allowance's transaction committed: the count must stand before the SMS leaves. An SMS
    the provider refused is taken off the phone's count again (nothing reached the phone), so
    the outbox's retries and a person's next try are not held back by failures."""
    if not isinstance(allowance, SmsAllowance):
        raise TypeError("send_sms needs an SmsAllowance from sms_allowance_take (A3, A8).")
    try:
        return _send_by_backend(to=allowance.phone, body=body)
    except SmsDeliveryError:
        if allowance.record_id is not None:
            SmsSent.objects.filter(pk=allowance.record_id).delete()
        raise


def _send_by_backend(*, to: str, body: str) -> str:
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
