"""Sign-in with two factors (A2): the first factor (password or EDS), the second (a code, the
authenticator app, a backup code); failures counted under the person's row lock, 10 in an
hour lock sign-in for 15 minutes (A3)."""

import dataclasses
import datetime as dt
import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from auth2fa import locks
from auth2fa.eds import verify_eds_signature
from auth2fa.models import (
    BackupCode,
    CodeCheck,
    CodeDevice,
    SignIn,
    SignInFailure,
    SmsDevice,
    TelegramDevice,
    User,
)
from auth2fa.phones import normalize_phone
from auth2fa.services._common import (
    CODE_FACTORS,
    FAILURE_WINDOW,
    FAILURES_BEFORE_LOCK,
    LOCK_FOR,
    RESEND_AFTER,
    _hash_secret,
    _invalid,
)
from auth2fa.services.codes import (
    _code_refusal,
    _deliver_code,
    _issue_device_code,
    _refuse_early_resend,
    _seconds_until,
    _use_backup_code,
)
from core import audit, clock
from core.errors import ApplicationError

# --- Failures and the account lock (A3) ---------------------------------------------------------


def _record_failure(user: User, *, reason: str, now: dt.datetime) -> None:
    """Count a failure under the person's row lock; the 10th in an hour locks sign-in 15 min."""
    # NO KEY UPDATE: audit rows naming this person (a foreign key) need not wait on it.
    locked = locks.person(user.pk)
    SignInFailure.objects.create(user=locked, at=now, reason=reason)
    recent = SignInFailure.objects.filter(user=locked, at__gt=now - FAILURE_WINDOW).count()
    audit.record("auth.sign_in_failed", actor=None, target=locked, after={"reason": reason})
    if recent >= FAILURES_BEFORE_LOCK and not _is_locked(locked, now):
        locked.sign_in_locked_until = now + LOCK_FOR
        locked.save(update_fields=["sign_in_locked_until"])
        audit.record(
            "auth.sign_in_locked",
            target=locked,
            after={"until": locked.sign_in_locked_until, "failures_in_hour": recent},
        )


def _is_locked(user: User, now: dt.datetime) -> bool:
    return user.sign_in_locked_until is not None and user.sign_in_locked_until > now


def _refuse_if_locked(user: User, now: dt.datetime) -> None:
    if _is_locked(user, now):
        wait = _seconds_until(user.sign_in_locked_until, now)
        raise ApplicationError(
            "sign_in_locked",
            _("Too many failed attempts. Sign-in is locked for %(minutes)s more min.")
            % {"minutes": (wait + 59) // 60},
            status=429,
            retry_after=wait,
        )


# --- Sign-in (A2) ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SignInStarted:
    sign_in: SignIn
    challenge: str
    factors: list[str]


def factors_of(user: User) -> list[str]:
    """The second factors the person has set up, in the order they are offered."""
    available = []
    if SmsDevice.objects.filter(user=user, confirmed=True).exists():
        available.append("sms")
    if TelegramDevice.objects.filter(user=user, confirmed=True, chat_id__isnull=False).exists():
        available.append("telegram")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        available.append("totp")
    if WebAuthnCredential.objects.filter(user=user, confirmed=True).exists():
        available.append("passkey")
    if BackupCode.objects.filter(
        device__user=user, device__confirmed=True, used_at__isnull=True
    ).exists():
        available.append("backup")
    return available


def _find_user(username: str) -> User | None:
    """The confirmed person with this e-mail or phone: unconfirmed registrations may repeat both
    (A8) and are never found, so none shadows or blocks the real person; one has at most one."""
    username = (username or "").strip()
    if "@" in username:
        return User.objects.confirmed().filter(email__iexact=username).first()
    try:
        return User.objects.confirmed().filter(phone=normalize_phone(username)).first()
    except ApplicationError:
        return None


def _start(user: User, *, first_factor: str, ip: str | None, now: dt.datetime) -> SignInStarted:
    if user.phone and user.phone_verified_at is None:
        raise ApplicationError(
            "phone_not_verified",
            _("Confirm your phone number with the SMS code first."),
            status=403,
        )
    factors = factors_of(user)
    if not factors:
        raise ApplicationError(
            "no_second_factor",
            _("Your account has no second factor. Ask the registrar's operator to set one up."),
            status=403,
        )
    challenge = secrets.token_urlsafe(32)
    with transaction.atomic():
        sign_in = SignIn.objects.create(
            token_hash=_hash_secret(challenge),
            user=user,
            first_factor=first_factor,
            created_at=now,
            expires_at=now + SignIn.TTL,
            ip=ip,
        )
        audit.record(
            "auth.first_factor_passed", actor=user, target=user, after={"factor": first_factor}
        )
    return SignInStarted(sign_in=sign_in, challenge=challenge, factors=factors)


def sign_in_with_password(*, username: str, password: str, ip: str | None = None) -> SignInStarted:
    """First factor by password (A2), where the deployment allows it."""
    if not settings.PASSWORD_LOGIN:
        raise ApplicationError(
            "password_login_disabled",
            _("Sign-in with a password is turned off. Sign in with your EDS."),
            status=403,
        )
    now = clock.now()
    user = _find_user(username)
    if user is None or not user.is_active:
        # Spend the same time as a real check so the answer does not tell who is registered.
        make_password(password)
        raise ApplicationError("invalid_credentials", _("Wrong login or password."), status=401)
    _refuse_if_locked(user, now)
    if not user.check_password(password):
        with transaction.atomic():
            _record_failure(user, reason="password", now=now)
        user.refresh_from_db()
        _refuse_if_locked(user, now)
        raise ApplicationError("invalid_credentials", _("Wrong login or password."), status=401)
    return _start(user, first_factor=SignIn.FirstFactor.PASSWORD, ip=ip, now=now)


def sign_in_with_eds(*, iin: str, ip: str | None = None) -> SignInStarted:
    """First factor by an EDS whose signature and certificate were already verified (A2)."""
    now = clock.now()
    # Only a confirmed person owns an IIN (A8): an unconfirmed registration of it is never found.
    user = User.objects.confirmed().filter(iin=iin, is_active=True).first()
    if user is None:
        raise ApplicationError(
            "eds_unknown_person",
            _("No account is registered for the IIN of this certificate."),
            status=401,
        )
    _refuse_if_locked(user, now)
    return _start(user, first_factor=SignIn.FirstFactor.EDS, ip=ip, now=now)


def _open_sign_in(challenge: str, now: dt.datetime, *, lock: bool = False) -> SignIn:
    sign_ins = SignIn.objects.select_related("user")
    if lock:
        sign_ins = locks.sign_in(sign_ins)
    sign_in = sign_ins.filter(token_hash=_hash_secret(challenge or "")).first()
    if sign_in is None or sign_in.completed_at is not None or sign_in.expires_at <= now:
        raise ApplicationError(
            "invalid_challenge",
            _("This sign-in has expired or was finished. Sign in again."),
            status=401,
        )
    return sign_in


def _code_device(user: User, factor: str, *, lock: bool) -> CodeDevice:
    if factor == "sms":
        devices = SmsDevice.objects.filter(user=user, confirmed=True)
    elif factor == "telegram":
        devices = TelegramDevice.objects.filter(user=user, confirmed=True, chat_id__isnull=False)
    else:
        raise _invalid("factor", _("Choose one of your factors: %s.") % ", ".join(factors_of(user)))
    if lock:
        devices = locks.devices(devices)
    device = devices.first()
    if device is None:
        raise _invalid("factor", _("You have not set up this factor."))
    return device


def sign_in_code_send(*, challenge: str, factor: str) -> int:
    """Send a one-time code for this sign-in; returns seconds until a resend is allowed.

    A resend for the same sign-in waits 60 s; a new sign-in may send at once (A3)."""
    now = clock.now()
    if factor not in CODE_FACTORS:
        raise _invalid("factor", _("Codes are sent by SMS or Telegram only."))
    with transaction.atomic():
        sign_in = _open_sign_in(challenge, now, lock=True)
        _refuse_if_locked(sign_in.user, now)
        _refuse_early_resend(sign_in.last_code_sent_at, now)
        device = _code_device(sign_in.user, factor, lock=True)
        issued = _issue_device_code(device, purpose="sign_in", now=now)
        sign_in.last_code_sent_at = now
        sign_in.save(update_fields=["last_code_sent_at"])
        audit.record(
            "auth.code_sent", actor=sign_in.user, target=sign_in.user, after={"factor": factor}
        )
    _deliver_code(device, issued)
    return int(RESEND_AFTER.total_seconds())


@dataclasses.dataclass(frozen=True)
class SignedIn:
    user: User
    device: Any
    sign_in: SignIn


def sign_in_verify(*, challenge: str, factor: str, code: str) -> SignedIn:
    """Check the second factor; on success the sign-in is complete (A2)."""
    now = clock.now()
    with transaction.atomic():
        sign_in = _open_sign_in(challenge, now, lock=True)
        # Read the person after the sign-in's lock is ours: a lock set by the guess we waited
        # for must be seen (a row joined to a locked one may come from the older snapshot).
        user = User.objects.get(pk=sign_in.user_id)
        _refuse_if_locked(user, now)
        refusal: ApplicationError | None = None
        if factor in CODE_FACTORS:
            device = _code_device(user, factor, lock=True)
            result = device.check_code(code or "", now=now)
            device.save()
            if result != CodeCheck.OK:
                refusal = _code_refusal(result, device)
        elif factor == "totp":
            device = locks.devices(TOTPDevice.objects.filter(user=user, confirmed=True)).first()
            if device is None:
                raise _invalid("factor", _("You have not set up this factor."))
            if not device.verify_token(code or ""):
                refusal = ApplicationError(
                    "invalid_code",
                    _("The code from your authenticator app is not right."),
                    status=401,
                    fields={"code": [_("Wrong code.")]},
                )
        elif factor == "backup":
            device, used = _use_backup_code(user, code or "", now=now)
            if not used:
                refusal = ApplicationError(
                    "invalid_code",
                    _("This backup code is not right or was already used."),
                    status=401,
                    fields={"code": [_("Wrong code.")]},
                )
        else:
            raise _invalid(
                "factor", _("Choose one of your factors: %s.") % ", ".join(factors_of(user))
            )
        _second_factor_checked(sign_in, user, factor=factor, refusal=refusal, now=now)
    return _second_factor_outcome(sign_in, user, device=device, refusal=refusal, now=now)


def _second_factor_checked(
    sign_in: SignIn, user: User, *, factor: str, refusal: ApplicationError | None, now: dt.datetime
) -> None:
    """The end of every second-factor check, in its transaction (the caller holds the sign-in's
    row lock): a refusal counts towards the account lock (A3); a success completes the sign-in,
    once, and is audited."""
    if refusal is not None:
        _record_failure(user, reason=f"code:{factor}", now=now)
        return
    sign_in.completed_at = now
    sign_in.save(update_fields=["completed_at"])
    User.objects.filter(pk=user.pk).update(last_login=now)
    audit.record(
        "auth.signed_in",
        actor=user,
        target=user,
        after={"first_factor": sign_in.first_factor, "second_factor": factor},
    )


def _second_factor_outcome(
    sign_in: SignIn, user: User, *, device: Any, refusal: ApplicationError | None, now: dt.datetime
) -> SignedIn:
    """After the commit (a failure stays counted): the refusal, or the lock that it has just set
    off; else the signed-in person."""
    if refusal is not None:
        user.refresh_from_db()
        _refuse_if_locked(user, now)
        raise refusal
    return SignedIn(user=user, device=device, sign_in=sign_in)


# --- EDS first factor (A2) --------------------------------------------------------------------

EDS_NONCE_TTL = dt.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class EdsNonce:
    nonce: str
    expires_at: dt.datetime


def eds_nonce_issue() -> EdsNonce:
    """A fresh server challenge to sign, valid 5 minutes and usable once.

    Nonces live in the shared cache (Redis in production): nothing to clean up, and deleting one
    is atomic, so the same nonce never signs two people in."""
    nonce = "kezek-" + secrets.token_urlsafe(24)
    expires_at = clock.now() + EDS_NONCE_TTL
    cache.set(_eds_nonce_key(nonce), expires_at.isoformat(), timeout=EDS_NONCE_TTL.seconds)
    return EdsNonce(nonce=nonce, expires_at=expires_at)


def _eds_nonce_key(nonce: str) -> str:
    # The nonce comes back from the client: hashed, any text makes a short, valid cache key.
    return "eds:nonce:" + hashlib.sha256(nonce.encode("utf-8", "surrogatepass")).hexdigest()


def eds_nonce_consume(nonce: str) -> None:
    key = _eds_nonce_key(nonce)
    expires_at = cache.get(key)
    if (
        not nonce
        or expires_at is None
        or dt.datetime.fromisoformat(expires_at) <= clock.now()
        or not cache.delete(key)
    ):
        raise ApplicationError(
            "eds_invalid_nonce",
            _("The challenge to sign has expired or was already used. Ask for a new one."),
            status=401,
        )


def sign_in_with_eds_signature(
    *,
    nonce: str,
    certificate: str,
    signature: str,
    signature_format: str,
    ip: str | None = None,
) -> SignInStarted:
    """First factor by EDS: the nonce we issued, signed with a trusted certificate (A2)."""
    eds_nonce_consume(nonce)
    identity = verify_eds_signature(
        nonce=nonce,
        certificate=certificate,
        signature=signature,
        signature_format=signature_format,
    )
    return sign_in_with_eds(iin=identity.iin, ip=ip)
