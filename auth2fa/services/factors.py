"""Setting up and removing second factors (A2): Telegram, the authenticator app, backup codes;
the person is told of each change."""

import dataclasses
import datetime as dt
import enum
import functools
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from auth2fa import locks
from auth2fa.models import (
    BackupCode,
    BackupCodeDevice,
    SmsDevice,
    TelegramDevice,
    User,
)
from auth2fa.selectors import TotpEnrollment, totp_enrollment
from auth2fa.services._common import (
    FACTORS,
    _hash_secret,
    _invalid,
)
from auth2fa.services.codes import PRIMARY_FACTORS, _notify_factor_change, _send_quietly
from auth2fa.services.sign_in import factors_of
from core import audit, clock
from core.errors import ApplicationError

# --- Telegram ---


@dataclasses.dataclass(frozen=True)
class TelegramLink:
    device: TelegramDevice
    url: str
    expires_at: dt.datetime


def telegram_link_start(*, user: User) -> TelegramLink:
    """A deep link to the bot, shown once and valid 15 minutes: pressing Start in Telegram links
    that chat (`telegram_link_complete`). A new link replaces an unused one; completing it while
    Telegram is already linked moves Telegram to the new chat."""
    now = clock.now()
    token = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-], as Telegram's start takes
    try:
        with transaction.atomic():
            device = locks.devices(TelegramDevice.objects.filter(user=user)).first()
            if device is None:
                device = TelegramDevice(user=user, name="Telegram", confirmed=False)
            device.link_token_hash = _hash_secret(token)
            device.link_expires_at = now + TelegramDevice.LINK_TTL
            device.link_used_at = None
            device.save()
            audit.record(
                "auth.telegram_link_started",
                actor=user,
                target=user,
                after={"device": device.pk, "expires_at": device.link_expires_at},
            )
    except IntegrityError as exc:
        # The same person asked twice at the same moment: the other request made the device.
        raise ApplicationError(
            "request_in_progress", _("Another request is in progress. Try again."), status=409
        ) from exc
    username = settings.TELEGRAM_BOT_USERNAME.lstrip("@")
    return TelegramLink(
        device=device,
        url=f"https://t.me/{username}?start={token}",
        expires_at=device.link_expires_at,
    )


class TelegramLinkOutcome(enum.StrEnum):
    LINKED = "linked"
    ALREADY_LINKED = "already_linked"  # the same chat pressed Start under the same link again
    USED = "used"  # another chat already used this link
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    PLAIN_START = "plain_start"  # /start without a link
    CHAT_TAKEN = "chat_taken"  # the chat is linked to another account
    NOT_PRIVATE = "not_private"  # codes go to a private chat with the bot only


TELEGRAM_REPLIES = {
    TelegramLinkOutcome.ALREADY_LINKED: gettext_lazy(
        "This chat is already linked to your Kezek account. Sign-in codes come here."
    ),
    TelegramLinkOutcome.USED: gettext_lazy(
        "This link has already been used. Open Kezek and ask for a new Telegram link."
    ),
    TelegramLinkOutcome.EXPIRED: gettext_lazy(
        "Sorry, this link has expired: a link works for 15 minutes. "
        "Open Kezek and ask for a new Telegram link."
    ),
    TelegramLinkOutcome.UNKNOWN: gettext_lazy(
        "Sorry, this link is not valid. Open Kezek and ask for a new Telegram link."
    ),
    TelegramLinkOutcome.PLAIN_START: gettext_lazy(
        "Hello! This is the Kezek bot. To get your sign-in codes here, open the security page "
        "in Kezek and choose to link Telegram."
    ),
    TelegramLinkOutcome.CHAT_TAKEN: gettext_lazy(
        "This Telegram chat is already linked to another Kezek account. Remove it there first, "
        "then ask for a new link."
    ),
    TelegramLinkOutcome.NOT_PRIVATE: gettext_lazy(
        "For your safety, Kezek sends codes to a private chat with the bot only. Open the link "
        "on your phone and press Start there."
    ),
}


def _telegram_reply(chat_id: int, language: str, outcome: TelegramLinkOutcome) -> None:
    with translation.override(language):
        text = str(TELEGRAM_REPLIES[outcome])
    _send_quietly(chat_id=chat_id, text=text)


def _telegram_linked(
    user_id: int, *, chat_id: int, previous_chat_id: int | None, at: dt.datetime
) -> None:
    """After commit: confirm in the new chat, and tell the person by SMS (and the old chat)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    with translation.override(user.language):
        text = _(
            "Done: this chat is linked to the Kezek account of %(name)s. Sign-in codes will "
            "come here. Never tell them to anyone."
        ) % {"name": user.full_name}
    _send_quietly(chat_id=chat_id, text=text)
    _notify_factor_change(
        user_id,
        factor="telegram",
        change="replaced" if previous_chat_id else "added",
        at=at,
        also_chats=(previous_chat_id,) if previous_chat_id else (),
        skip_chats=(chat_id,),
    )


def _telegram_link(
    token: str, chat_id: int, now: dt.datetime
) -> tuple[TelegramLinkOutcome, str | None]:
    """Link the chat if the token allows it; returns the outcome and the person's language."""
    with transaction.atomic():
        device = locks.device_without_person(
            TelegramDevice.objects.select_related("user").filter(
                link_token_hash=_hash_secret(token)
            )
        ).first()
        if device is None:
            return TelegramLinkOutcome.UNKNOWN, None
        user = device.user
        if device.link_used_at is not None:
            if device.confirmed and device.chat_id == chat_id:
                return TelegramLinkOutcome.ALREADY_LINKED, user.language
            return TelegramLinkOutcome.USED, user.language
        if device.link_expires_at is None or device.link_expires_at <= now:
            return TelegramLinkOutcome.EXPIRED, user.language
        if TelegramDevice.objects.filter(chat_id=chat_id).exclude(pk=device.pk).exists():
            return TelegramLinkOutcome.CHAT_TAKEN, user.language
        moved = device.confirmed and device.chat_id != chat_id
        previous_chat_id = device.chat_id if moved else None
        device.chat_id = chat_id
        device.confirmed = True
        device.link_used_at = now
        device.linked_at = now
        # A code sent to the previous chat is void.
        device.code_hash, device.code_expires_at, device.code_failures = "", None, 0
        device.save()
        audit.record(
            "auth.factor_added",
            actor=user,
            target=user,
            before=({"factor": "telegram", "chat_id": previous_chat_id} if moved else None),
            after={"factor": "telegram", "device": device.pk, "chat_id": chat_id},
        )
        transaction.on_commit(
            functools.partial(
                _telegram_linked,
                user.pk,
                chat_id=chat_id,
                previous_chat_id=previous_chat_id,
                at=now,
            ),
            robust=True,
        )
    return TelegramLinkOutcome.LINKED, user.language


def telegram_link_complete(
    *, token: str, chat_id: int, chat_type: str = "private", language: str = ""
) -> TelegramLinkOutcome:
    """The person pressed Start under a deep link (the webhook calls this with `/start <token>`):
    link the chat once, confirm the device, audit it, and answer the chat after commit. A link
    that cannot be used gets a polite answer in the person's language, or in the chat's own
    `language` when the link names nobody."""
    now = clock.now()
    token = (token or "").strip()
    reply_language = language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE
    if chat_type != "private":
        outcome = TelegramLinkOutcome.NOT_PRIVATE
    elif not token:
        outcome = TelegramLinkOutcome.PLAIN_START
    else:
        try:
            outcome, person_language = _telegram_link(token, chat_id, now)
        except IntegrityError:
            # Another account linked this chat at the same moment.
            outcome, person_language = TelegramLinkOutcome.CHAT_TAKEN, None
        reply_language = person_language or reply_language
    if outcome != TelegramLinkOutcome.LINKED:
        transaction.on_commit(
            functools.partial(_telegram_reply, chat_id, reply_language, outcome), robust=True
        )
    return outcome


# --- Authenticator app (TOTP) ---


def totp_enroll_start(*, user: User) -> TotpEnrollment:
    """An unconfirmed authenticator app: the person scans the QR code, then confirms with a code
    from the app (`totp_enroll_confirm`). An earlier unfinished set-up is dropped."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
        audit.record(
            "auth.totp_enroll_started", actor=user, target=user, after={"device": device.pk}
        )
    return totp_enrollment(device)


def totp_enroll_confirm(*, user: User, device_id: int, code: str) -> TOTPDevice:
    """Confirm the app with its current code; it then signs in. It replaces an app confirmed
    before (sign-in checks one app per person)."""
    now = clock.now()
    with transaction.atomic():
        device = locks.devices(
            TOTPDevice.objects.filter(pk=device_id, user=user, confirmed=False)
        ).first()
        if device is None:
            raise ApplicationError(
                "not_found",
                _("This set-up of an authenticator app was finished or replaced. Start again."),
                status=404,
            )
        # django-otp throttles wrong tries (and keeps the count: the refusal is raised below).
        verified = device.verify_token((code or "").strip())
        if verified:
            replaced = list(
                locks.devices(
                    TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk")
                ).values_list("pk", flat=True)
            )
            TOTPDevice.objects.filter(pk__in=replaced).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit.record(
                "auth.factor_added",
                actor=user,
                target=user,
                before={"factor": "totp", "devices": replaced} if replaced else None,
                after={"factor": "totp", "device": device.pk},
            )
            transaction.on_commit(
                functools.partial(
                    _notify_factor_change,
                    user.pk,
                    factor="totp",
                    change="replaced" if replaced else "added",
                    at=now,
                ),
                robust=True,
            )
    if not verified:
        raise ApplicationError(
            "invalid_code",
            _("The code from your authenticator app is not right. Check the time on your phone."),
            status=400,
            fields={"code": [_("Wrong code.")]},
        )
    return device


# --- Backup codes ---


def backup_codes_generate(*, user: User) -> list[str]:
    """Ten new backup codes, shown this once (only their HMAC is kept); the unused codes made
    before stop working."""
    now = clock.now()
    try:
        with transaction.atomic():
            device = locks.devices(BackupCodeDevice.objects.filter(user=user)).first()
            if device is None:
                device = BackupCodeDevice.objects.create(
                    user=user, name="Backup codes", confirmed=True
                )
            elif not device.confirmed:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            dropped, _by_model = device.codes.filter(used_at__isnull=True).delete()
            codes: list[str] = []
            while len(codes) < BackupCodeDevice.COUNT:
                new = BackupCodeDevice.new_code()
                if new not in codes:
                    codes.append(new)
            BackupCode.objects.bulk_create(
                BackupCode(device=device, code_hash=device.code_hmac(code), created_at=now)
                for code in codes
            )
            audit.record(
                "auth.factor_added",
                actor=user,
                target=user,
                before={"factor": "backup", "unused_codes": dropped} if dropped else None,
                after={"factor": "backup", "device": device.pk, "codes": len(codes)},
            )
            transaction.on_commit(
                functools.partial(
                    _notify_factor_change,
                    user.pk,
                    factor="backup",
                    change="replaced" if dropped else "added",
                    at=now,
                ),
                robust=True,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            "request_in_progress", _("Another request is in progress. Try again."), status=409
        ) from exc
    return codes


# --- Removing a factor ---


def _lock_factor_devices(user: User) -> dict[str, list[Any]]:
    """Lock all the person's second-factor devices, always in this order; the set-up ones."""
    found: dict[str, list[Any]] = {}
    for factor, model in (
        ("sms", SmsDevice),
        ("telegram", TelegramDevice),
        ("totp", TOTPDevice),
        ("passkey", WebAuthnCredential),
        ("backup", BackupCodeDevice),
    ):
        devices = list(locks.devices(model.objects.filter(user=user).order_by("pk")))
        found[factor] = [
            device
            for device in devices
            if device.confirmed and (factor != "telegram" or device.chat_id is not None)
        ]
    return found


def factor_remove(*, user: User, factor: str, device_id: int | None = None) -> None:
    """Remove a second factor (all its devices, or the one `device_id`, as one passkey). The last
    of SMS, Telegram, the authenticator app and passkeys cannot go: sign-in always needs a second
    factor (A2)."""
    if factor not in FACTORS:
        raise _invalid("factor", _("Choose one of your factors: %s.") % ", ".join(factors_of(user)))
    now = clock.now()
    with transaction.atomic():
        devices = _lock_factor_devices(user)
        chosen = [d for d in devices[factor] if device_id is None or d.pk == device_id]
        if not chosen:
            raise ApplicationError("not_found", _("You have not set up this factor."), status=404)
        if factor in PRIMARY_FACTORS and not any(
            d not in chosen for name in PRIMARY_FACTORS for d in devices[name]
        ):
            raise ApplicationError(
                "last_factor",
                _(
                    "This is your last second factor, and sign-in always needs one. "
                    "Add another factor first, then remove this one."
                ),
                status=409,
            )
        removed = [d.pk for d in chosen]
        unlinked_chats = tuple(d.chat_id for d in chosen if isinstance(d, TelegramDevice))
        for device in chosen:
            device.delete()
        audit.record(
            "auth.factor_removed",
            actor=user,
            target=user,
            before={"factor": factor, "devices": removed},
        )
        transaction.on_commit(
            functools.partial(
                _notify_factor_change,
                user.pk,
                factor=factor,
                change="removed",
                at=now,
                also_chats=unlinked_chats,
            ),
            robust=True,
        )
