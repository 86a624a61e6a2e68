"""One-time codes (A3) and the notices of factor changes: issued, delivered and checked under
the device's row lock; per-phone and per-chat sending limits."""

import dataclasses
import datetime as dt
import hmac
import logging
import math

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from auth2fa import locks
from auth2fa.models import (
    BackupCode,
    BackupCodeDevice,
    CodeCheck,
    CodeDevice,
    SmsDevice,
    TelegramDevice,
    TelegramSent,
    User,
)
from auth2fa.services._common import (
    RESEND_AFTER,
    _invalid,
)
from core import audit, clock
from core.errors import ApplicationError
from core.models import AuditEvent
from notify.models import Message
from notify.services import person_notify
from notify.sms import SmsAllowance, SmsDeliveryError, SmsRefused, send_sms, sms_allowance_take
from notify.telegram import TelegramDeliveryError, send_telegram

# --- Codes --------------------------------------------------------------------------------------


logger = logging.getLogger(__name__)


def _seconds_until(moment: dt.datetime, now: dt.datetime) -> int:
    """Whole seconds to wait (for Retry-After), at least one."""
    return max(1, math.ceil((moment - now).total_seconds()))


def _refuse_early_resend(last_sent_at: dt.datetime | None, now: dt.datetime) -> None:
    if last_sent_at is not None and now - last_sent_at < RESEND_AFTER:
        wait = _seconds_until(last_sent_at + RESEND_AFTER, now)
        raise ApplicationError(
            "throttled",
            _("A code was sent less than a minute ago. You can ask again in %(seconds)s s.")
            % {"seconds": wait},
            status=429,
            retry_after=wait,
        )


@dataclasses.dataclass(frozen=True)
class IssuedCode:
    """A code just issued, and for an SMS device the SMS it was counted as (A3)."""

    code: str
    sms: SmsAllowance | None = None


def _issue_sms_code(device: SmsDevice, *, purpose: str, now: dt.datetime) -> IssuedCode:
    """Count the SMS against the phone's limits (A3: every SMS to the phone counts, whoever
    sends it) and issue a code; the caller holds the device's row lock."""
    allowance = _sms_allowance(device.phone, purpose=purpose, now=now)
    code = device.issue_code(now=now)
    device.save()
    return IssuedCode(code=code, sms=allowance)


def _sms_allowance(phone: str, *, purpose: str, now: dt.datetime) -> SmsAllowance:
    """One SMS to `phone` counted against its limits (A3), or the refusal a person is shown: the
    same for a code and for a notice sent in its place (a registration's, A8)."""
    try:
        return sms_allowance_take(phone, purpose=purpose, now=now)
    except SmsRefused as refused:
        if refused.wait_seconds is None:
            raise ApplicationError(
                "validation_error",
                _("Kezek does not send SMS to this country. Choose another second factor."),
                status=400,
            ) from refused
        raise ApplicationError(
            "throttled",
            _("Too many codes were sent to this phone. Try again in %(minutes)s min.")
            % {"minutes": (refused.wait_seconds + 59) // 60},
            status=429,
            retry_after=refused.wait_seconds,
        ) from refused


def _deliver_code(device: CodeDevice, issued: IssuedCode) -> None:
    """Send the code after its transaction committed (the code must exist before it arrives).
    Codes go straight to the provider, not through the outbox: the outbox keeps its texts, and
    a code must not rest in a table; and the person waits for the answer that it was sent."""
    message = _("Kezek code: %(code)s. Valid for 5 minutes. Never tell it to anyone.") % {
        "code": issued.code
    }
    try:
        if isinstance(device, SmsDevice):
            send_sms(issued.sms, message)
        elif isinstance(device, TelegramDevice):
            send_telegram(device.chat_id, message)
        else:
            device.deliver(message)
    except (SmsDeliveryError, TelegramDeliveryError) as exc:
        raise _delivery_failed() from exc


def _delivery_failed() -> ApplicationError:
    return ApplicationError(
        "delivery_failed",
        _("The code could not be sent just now. Please try again in a minute."),
        status=503,
        retry_after=60,
    )


def _code_refusal(result: str, device: CodeDevice | None) -> ApplicationError:
    if result == CodeCheck.WRONG:
        left = device.MAX_TRIES_PER_CODE - device.code_failures
        if left > 0:
            return ApplicationError(
                "invalid_code",
                _("The code is not right. Tries left for this code: %(left)s.") % {"left": left},
                status=401,
                fields={"code": [_("Wrong code.")]},
            )
    if result in (CodeCheck.WRONG, CodeCheck.TOO_MANY_TRIES):
        return ApplicationError(
            "code_exhausted",
            _("Too many wrong tries for this code. Ask for a new code."),
            status=401,
            fields={"code": [_("Ask for a new code.")]},
        )
    if result == CodeCheck.EXPIRED:
        return ApplicationError(
            "code_expired",
            _("The code has expired. Ask for a new code."),
            status=401,
            fields={"code": [_("Ask for a new code.")]},
        )
    return ApplicationError(
        "no_code",
        _("No code was sent yet. Ask for a code first."),
        status=401,
        fields={"code": [_("Ask for a code first.")]},
    )


# --- Second factors: Telegram, authenticator app, backup codes (A2) -----------------------------
#
# Adding, replacing or removing a factor is audited in its transaction (`auth.factor_added`,
# `auth.factor_removed`) and told to the person after commit, by SMS to their confirmed phone and
# in their linked Telegram chat, in their language: a change they did not make is their cue to call
# the registrar. A notification that cannot be sent is logged; it never undoes the change.
#
# Locking: factor_remove locks every second-factor device of the person, always in the order of
# PRIMARY_FACTORS then backup, so two removals at once cannot both leave the person without a
# factor. Other services here lock one device at most, so no lock cycle can form with them.


TELEGRAM_PER_CHAT_HOUR = 5
TELEGRAM_PER_CHAT_DAY = 20
# The factors that alone let a person in. Backup codes are a spare that runs out, so they do not
# count as the second factor that A2 always requires.
PRIMARY_FACTORS = ("sms", "telegram", "totp", "passkey")

FACTOR_NAMES = {
    "sms": gettext_lazy("SMS codes"),
    "telegram": gettext_lazy("Telegram codes"),
    "totp": gettext_lazy("authenticator app"),
    "passkey": gettext_lazy("passkey"),
    "backup": gettext_lazy("backup codes"),
}
FACTOR_CHANGE_MESSAGES = {
    "added": gettext_lazy(
        "Kezek: a sign-in factor was added to your account: %(factor)s (%(when)s). "
        "If it was not you, contact the registrar at once."
    ),
    "replaced": gettext_lazy(
        "Kezek: a sign-in factor of your account was replaced: %(factor)s (%(when)s). "
        "If it was not you, contact the registrar at once."
    ),
    "removed": gettext_lazy(
        "Kezek: a sign-in factor was removed from your account: %(factor)s (%(when)s). "
        "If it was not you, contact the registrar at once."
    ),
}


def _wait_for_send_cap(
    sent_at: list[dt.datetime], now: dt.datetime, *, per_hour: int, per_day: int
) -> int | None:
    """Seconds until one more message fits under the caps, or None when it fits now."""
    in_day = sorted(at for at in sent_at if at > now - dt.timedelta(days=1))
    in_hour = [at for at in in_day if at > now - dt.timedelta(hours=1)]
    if len(in_day) >= per_day:
        return _seconds_until(in_day[len(in_day) - per_day] + dt.timedelta(days=1), now)
    if len(in_hour) >= per_hour:
        return _seconds_until(in_hour[len(in_hour) - per_hour] + dt.timedelta(hours=1), now)
    return None


def _issue_telegram_code(device: TelegramDevice, *, purpose: str, now: dt.datetime) -> IssuedCode:
    """Check the per-chat limits and issue a code; the caller holds the device's row lock, and a
    chat belongs to one device, so the limits hold under concurrency (as for SMS)."""
    sent = TelegramSent.objects.filter(
        chat_id=device.chat_id, sent_at__gt=now - dt.timedelta(days=1)
    ).values_list("sent_at", flat=True)
    wait = _wait_for_send_cap(
        list(sent), now, per_hour=TELEGRAM_PER_CHAT_HOUR, per_day=TELEGRAM_PER_CHAT_DAY
    )
    if wait is not None:
        raise ApplicationError(
            "throttled",
            _("Too many codes were sent to this Telegram chat. Try again in %(minutes)s min.")
            % {"minutes": (wait + 59) // 60},
            status=429,
            retry_after=wait,
        )
    code = device.issue_code(now=now)
    device.save()
    TelegramSent.objects.create(chat_id=device.chat_id, sent_at=now, purpose=purpose)
    return IssuedCode(code=code)


def _issue_device_code(device: CodeDevice, *, purpose: str, now: dt.datetime) -> IssuedCode:
    """A code for an SMS or a Telegram device, each under its own sending limits."""
    if isinstance(device, TelegramDevice):
        return _issue_telegram_code(device, purpose=purpose, now=now)
    return _issue_sms_code(device, purpose=purpose, now=now)


def _use_backup_code(user: User, code: str, *, now: dt.datetime) -> tuple[BackupCodeDevice, bool]:
    """Spend a backup code; the caller's transaction holds the device's row lock from here on, so
    one code cannot sign in twice in parallel. Every unused code is compared, in constant time."""
    device = locks.devices(BackupCodeDevice.objects.filter(user=user, confirmed=True)).first()
    if device is None:
        raise _invalid("factor", _("You have not set up this factor."))
    wanted = device.code_hmac(code)
    match = None
    for pk, code_hash in device.codes.filter(used_at__isnull=True).values_list("pk", "code_hash"):
        if hmac.compare_digest(code_hash, wanted) and match is None:
            match = pk
    if match is None or not BackupCode.objects.filter(pk=match, used_at__isnull=True).update(
        used_at=now
    ):
        return device, False
    device.last_used_at = now
    device.save(update_fields=["last_used_at"])
    return device, True


def _send_quietly(*, chat_id: int, text: str) -> None:
    """The bot's answer in the chat that just wrote to it (a link confirmed or refused): sent at
    once, not through the outbox, as a reply to that chat only; a failure is logged, never
    raised (the change stands)."""
    try:
        send_telegram(chat_id, text)
    except TelegramDeliveryError as exc:
        logger.warning("A Telegram reply could not be delivered: %s", exc)


# A8: an SMS notice of a factor change goes to a person at most once per kind of change (this
# factor added, replaced or removed) per FACTOR_NOTICE_SMS_EVERY_MINUTES, so making backup codes
# over and over cannot pump SMS. Each notice SMS is audited (this action) and counted from there;
# the change itself is always made and audited, and the Telegram notice always goes.
FACTOR_NOTICE_SENT = "auth.change_notice_sms"


def _sms_notice_due(user: User, factor: str, change: str) -> bool:
    """Whether this change's SMS notice goes out now; if so, it is recorded. The person's row
    lock makes two notices at once count one by one."""
    now = clock.now()
    window = dt.timedelta(minutes=settings.FACTOR_NOTICE_SMS_EVERY_MINUTES)
    with transaction.atomic():
        locks.person(user.pk)
        told = AuditEvent.objects.filter(
            action=FACTOR_NOTICE_SENT,
            object_type=user._meta.label_lower,
            object_id=str(user.pk),
            occurred_at__gt=now - window,
            after__factor=factor,
            after__change=change,
        )
        if told.exists():
            logger.info("A factor-change SMS notice to person %s was sent lately: skipped", user.pk)
            return False
        audit.record(FACTOR_NOTICE_SENT, target=user, after={"factor": factor, "change": change})
    return True


def _notify_factor_change(
    user_id: int,
    *,
    factor: str,
    change: str,
    at: dt.datetime,
    also_chats: tuple[int, ...] = (),
    skip_chats: tuple[int, ...] = (),
) -> None:
    """Tell the person that a second factor changed (run after commit), through the outbox: SMS
    to the confirmed phone (once per kind of change in a while, A8), and a message to the linked
    Telegram chat (and to a chat that was just unlinked)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    with translation.override(user.language):
        text = str(FACTOR_CHANGE_MESSAGES[change]) % {
            "factor": FACTOR_NAMES[factor],
            "when": at.astimezone(clock.ALMATY).strftime("%d.%m.%Y %H:%M"),
        }
    linked = TelegramDevice.objects.filter(user=user, confirmed=True, chat_id__isnull=False)
    chats = (set(linked.values_list("chat_id", flat=True)) | set(also_chats)) - set(skip_chats)
    with transaction.atomic():
        by_sms = (
            bool(user.phone)
            and user.phone_verified_at is not None
            and _sms_notice_due(user, factor, change)
        )
        person_notify(
            person=user,
            kind=Message.Kind.FACTOR_CHANGED,
            text=text,
            phone=user.phone if by_sms else None,
            chats=sorted(chats),
        )
