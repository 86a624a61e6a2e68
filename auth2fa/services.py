"""Registration and sign-in with two factors (A1–A4).

Every function owns its transaction and writes its audit event in it. Failures that must be
remembered (a wrong code, a wrong password) are committed before the refusal is raised, so a
refused request still counts towards the limits of A3.

Locking: a code is issued and checked under a row lock on its device, and failures are counted
under a row lock on the person, so parallel guesses are counted one by one (A3).
"""

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import hmac
import logging
import math
import secrets
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.settings import app_settings as webauthn_settings
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import UserVerificationRequirement

from auth2fa import locks
from auth2fa.eds import verify_eds_signature
from auth2fa.models import (
    ApiToken,
    BackupCode,
    BackupCodeDevice,
    CodeCheck,
    CodeDevice,
    SignIn,
    SignInFailure,
    SmsDevice,
    SmsSent,
    TelegramDevice,
    TelegramSent,
    User,
    UserSession,
)
from auth2fa.phones import normalize_phone
from auth2fa.selectors import TotpEnrollment, api_token_with_person, totp_enrollment
from carriers.models import Carrier, Member
from carriers.validators import is_valid_iin_bin
from core import audit, clock
from core.errors import ApplicationError
from deposits.services import personal_account_open
from notify.sms import SmsDeliveryError, send_sms
from notify.telegram import TelegramDeliveryError, send_telegram

RESEND_AFTER = dt.timedelta(seconds=60)
SMS_PER_PHONE_HOUR = 5
SMS_PER_PHONE_DAY = 20
FAILURES_BEFORE_LOCK = 10
FAILURE_WINDOW = dt.timedelta(hours=1)
LOCK_FOR = dt.timedelta(minutes=15)

# Second factors a person can use, in the order they are offered.
CODE_FACTORS = ("sms", "telegram")
FACTORS = ("sms", "telegram", "totp", "passkey", "backup")


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


# --- Registration (A1) --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Registration:
    user: User
    carrier: Carrier


def _person_errors(
    *, full_name: str, iin: str, phone: str, email: str, password: str
) -> tuple[dict[str, list[str]], str, str]:
    """What is wrong with a new person's data (A1), and the phone and e-mail normalised."""
    errors: dict[str, list[str]] = {}
    if not is_valid_iin_bin(iin):
        errors["person.iin"] = [_("An IIN is 12 digits with a valid check digit.")]
    if not full_name.strip():
        errors["person.full_name"] = [_("Write your full name.")]
    try:
        phone = normalize_phone(phone)
    except ApplicationError as exc:
        errors["person.phone"] = exc.fields["phone"]
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        errors["person.email"] = [_("Write a valid e-mail address.")]
    try:
        password_validation.validate_password(
            password, User(email=email, full_name=full_name, phone=phone)
        )
    except ValidationError as exc:
        errors["person.password"] = list(exc.messages)
    if not errors:
        if User.objects.filter(email__iexact=email).exists():
            errors["person.email"] = [_("This e-mail address is already registered.")]
        if User.objects.filter(Q(phone=phone) | Q(iin=iin)).exists():
            errors["person.phone"] = [_("A person with this phone or IIN is already registered.")]
    return errors, phone, email


def _person_create(
    *, full_name: str, iin: str, phone: str, email: str, password: str, language: str
) -> tuple[User, SmsDevice]:
    """The person and their unconfirmed phone, inside the caller's transaction."""
    user = User.objects.create(
        email=email,
        phone=phone,
        full_name=full_name.strip(),
        iin=iin,
        language=language if language in ("kk", "ru", "en") else "ru",
        password=make_password(password),
    )
    device = SmsDevice.objects.create(user=user, name=_("Phone"), phone=phone, confirmed=False)
    return user, device


def _already_registered(exc: IntegrityError, field: str) -> ApplicationError:
    # Two registrations of the same person or carrier at once: the second one loses here.
    return ApplicationError(
        "validation_error",
        _("This carrier or person has just been registered."),
        fields={field: [_("Already registered.")]},
    )


def registration_create(
    *,
    carrier_kind: str,
    carrier_iin_bin: str,
    carrier_name: str,
    full_name: str,
    iin: str,
    phone: str,
    email: str,
    password: str,
    language: str = "ru",
) -> Registration:
    """A carrier and its owner; the phone gets an SMS code and must be confirmed before the
    person can sign in (A1)."""
    errors, phone, email = _person_errors(
        full_name=full_name, iin=iin, phone=phone, email=email, password=password
    )
    if carrier_kind not in Carrier.Kind.values:
        errors["carrier.kind"] = [_("Choose company or individual.")]
    if not is_valid_iin_bin(carrier_iin_bin):
        errors["carrier.iin_bin"] = [_("An IIN or BIN is 12 digits with a valid check digit.")]
    elif carrier_kind == Carrier.Kind.INDIVIDUAL and carrier_iin_bin != iin:
        errors["carrier.iin_bin"] = [_("An individual entrepreneur registers under their own IIN.")]
    elif Carrier.objects.filter(iin_bin=carrier_iin_bin).exists():
        errors["carrier.iin_bin"] = [_("A carrier with this IIN/BIN is already registered.")]
    if not carrier_name.strip():
        errors["carrier.name"] = [_("Write the carrier's name.")]
    if errors:
        raise ApplicationError("validation_error", _("Some fields are not valid."), fields=errors)
    try:
        with transaction.atomic():
            user, device = _person_create(
                full_name=full_name,
                iin=iin,
                phone=phone,
                email=email,
                password=password,
                language=language,
            )
            carrier = Carrier.objects.create(
                kind=carrier_kind, iin_bin=carrier_iin_bin, name=carrier_name.strip()
            )
            Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
            personal_account_open(carrier=carrier)
            audit.record(
                "auth.registered",
                actor=user,
                target=carrier,
                after={"carrier": carrier_iin_bin, "person": email, "phone": phone},
            )
            code = _issue_sms_code(device, purpose="registration", now=clock.now())
    except IntegrityError as exc:
        raise _already_registered(exc, "carrier.iin_bin") from exc
    _deliver_code(device, code)
    return Registration(user=user, carrier=carrier)


def person_register(
    *, full_name: str, iin: str, phone: str, email: str, password: str, language: str = "ru"
) -> User:
    """A person without a carrier of their own (someone invited to act for one); the phone is
    confirmed by SMS like any registration (A1)."""
    errors, phone, email = _person_errors(
        full_name=full_name, iin=iin, phone=phone, email=email, password=password
    )
    if errors:
        raise ApplicationError("validation_error", _("Some fields are not valid."), fields=errors)
    try:
        with transaction.atomic():
            user, device = _person_create(
                full_name=full_name,
                iin=iin,
                phone=phone,
                email=email,
                password=password,
                language=language,
            )
            audit.record(
                "auth.registered", actor=user, target=user, after={"person": email, "phone": phone}
            )
            code = _issue_sms_code(device, purpose="registration", now=clock.now())
    except IntegrityError as exc:
        raise _already_registered(exc, "person.phone") from exc
    _deliver_code(device, code)
    return user


def registration_code_resend(*, phone: str) -> int:
    """Send a new code for a registration not confirmed yet; returns seconds until the next one."""
    phone = normalize_phone(phone)
    now = clock.now()
    with transaction.atomic():
        device = locks.devices(SmsDevice.objects.filter(phone=phone, confirmed=False)).first()
        if device is None:
            raise ApplicationError(
                "not_found", _("No registration waits for this phone number."), status=404
            )
        _refuse_early_resend(device.last_sent_at, now)
        code = _issue_sms_code(device, purpose="registration", now=now)
    _deliver_code(device, code)
    return int(RESEND_AFTER.total_seconds())


def registration_verify(*, phone: str, code: str) -> User:
    """Confirm the phone with the SMS code (A1); the person can sign in from then on."""
    phone = normalize_phone(phone)
    now = clock.now()
    with transaction.atomic():
        device = locks.devices(SmsDevice.objects.select_related("user").filter(phone=phone)).first()
        if device is None:
            raise ApplicationError(
                "not_found", _("No registration waits for this phone number."), status=404
            )
        if device.confirmed:
            return device.user
        result = device.check_code(code, now=now)
        device.save()
        if result == CodeCheck.OK:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            User.objects.filter(pk=device.user_id).update(phone_verified_at=now)
            audit.record("auth.phone_verified", actor=device.user, target=device.user)
    if result != CodeCheck.OK:
        raise _code_refusal(result, device)
    device.user.refresh_from_db()
    return device.user


# --- Codes --------------------------------------------------------------------------------------


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


def _issue_sms_code(device: SmsDevice, *, purpose: str, now: dt.datetime) -> str:
    """Check the per-phone limits and issue a code; the caller holds the device's row lock,
    which also serialises the sends to this phone, so the limits hold under concurrency."""
    sent = SmsSent.objects.filter(phone=device.phone, sent_at__gt=now - dt.timedelta(days=1))
    in_day = list(sent.values_list("sent_at", flat=True))
    in_hour = sorted(at for at in in_day if at > now - dt.timedelta(hours=1))
    if len(in_hour) >= SMS_PER_PHONE_HOUR or len(in_day) >= SMS_PER_PHONE_DAY:
        oldest = in_hour[0] + dt.timedelta(hours=1) if len(in_hour) >= SMS_PER_PHONE_HOUR else None
        if len(in_day) >= SMS_PER_PHONE_DAY:
            oldest = min(in_day) + dt.timedelta(days=1)
        wait = _seconds_until(oldest, now)
        raise ApplicationError(
            "throttled",
            _("Too many codes were sent to this phone. Try again in %(minutes)s min.")
            % {"minutes": (wait + 59) // 60},
            status=429,
            retry_after=wait,
        )
    code = device.issue_code(now=now)
    device.save()
    SmsSent.objects.create(phone=device.phone, sent_at=now, purpose=purpose)
    return code


def _deliver_code(device: CodeDevice, code: str) -> None:
    """Send the code after its transaction committed (the code must exist before it arrives)."""
    message = _("Kezek code: %(code)s. Valid for 5 minutes. Never tell it to anyone.") % {
        "code": code
    }
    try:
        if isinstance(device, SmsDevice):
            send_sms(to=device.phone, body=message)
        elif isinstance(device, TelegramDevice):
            send_telegram(device.chat_id, message)
        else:
            device.deliver(message)
    except (SmsDeliveryError, TelegramDeliveryError) as exc:
        raise ApplicationError(
            "delivery_failed",
            _("The code could not be sent just now. Please try again in a minute."),
            status=503,
            retry_after=60,
        ) from exc


def _code_refusal(result: str, device: CodeDevice) -> ApplicationError:
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
    username = (username or "").strip()
    if "@" in username:
        return User.objects.filter(email__iexact=username).first()
    try:
        return User.objects.filter(phone=normalize_phone(username)).first()
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
    user = User.objects.filter(iin=iin, is_active=True).first()
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
        code = _issue_device_code(device, purpose="sign_in", now=now)
        sign_in.last_code_sent_at = now
        sign_in.save(update_fields=["last_code_sent_at"])
        audit.record(
            "auth.code_sent", actor=sign_in.user, target=sign_in.user, after={"factor": factor}
        )
    _deliver_code(device, code)
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


# --- API tokens (A4) ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def api_token_issue(
    *, user: User, kind: str, name: str = "", expires_at: dt.datetime | None = None
) -> IssuedToken:
    """A new bearer token, shown once: only its SHA-256 is kept (A4)."""
    now = clock.now()
    if kind == ApiToken.Kind.SIGN_IN and expires_at is None:
        expires_at = now + dt.timedelta(hours=settings.API_SIGN_IN_TOKEN_HOURS)
    secret = "kzk_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            kind=kind,
            name=name.strip()[:100],
            token_hash=_hash_secret(secret),
            prefix=secret[:12],
            created_at=now,
            expires_at=expires_at,
        )
        audit.record(
            "auth.token_created",
            actor=user,
            target=token,
            after={"kind": kind, "name": token.name, "expires_at": expires_at},
        )
    return IssuedToken(token=token, secret=secret)


def api_token_for_secret(secret: str) -> ApiToken | None:
    """The live token with this secret, or None (unknown, revoked or expired). The person's
    membership and carrier come in the same read, for carriers.selectors.membership_of, which
    every carrier endpoint asks next."""
    now = clock.now()
    token = api_token_with_person(_hash_secret(secret))
    if token is None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if not token.user.is_active:
        return None
    # A write at most every 5 minutes per token, not one per request.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=clock.now()
        )
        if updated:
            audit.record("auth.token_revoked", actor=actor, target=token)


# --- Browser sessions -----------------------------------------------------------------------------


def web_session_start(
    *, user: User, session_key: str, ip: str | None, user_agent: str
) -> UserSession:
    """Remember a signed-in browser session so the person can see and end it."""
    now = clock.now()
    with transaction.atomic():
        session = UserSession.objects.create(
            user=user,
            session_key=session_key,
            created_at=now,
            last_seen_at=now,
            ip=ip,
            # The client writes this header: control characters are dropped (PostgreSQL refuses
            # a NUL byte, which would fail the sign-in) and it is kept short.
            user_agent="".join(char for char in user_agent[:1000] if char.isprintable())[:300],
        )
        audit.record("auth.session_started", actor=user, target=session, after={"ip": ip})
    return session


def web_session_end(*, session: UserSession, actor: User) -> None:
    """End a browser session: it is signed out on its next request (and its data deleted)."""
    with transaction.atomic():
        updated = UserSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=clock.now()
        )
        if updated:
            audit.record("auth.session_ended", actor=actor, target=session)
    if updated:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key=session.session_key).delete()


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


def _eds_nonce_consume(nonce: str) -> None:
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
    _eds_nonce_consume(nonce)
    identity = verify_eds_signature(
        nonce=nonce,
        certificate=certificate,
        signature=signature,
        signature_format=signature_format,
    )
    return sign_in_with_eds(iin=identity.iin, ip=ip)


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

logger = logging.getLogger(__name__)

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


def _issue_telegram_code(device: TelegramDevice, *, purpose: str, now: dt.datetime) -> str:
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
    return code


def _issue_device_code(device: CodeDevice, *, purpose: str, now: dt.datetime) -> str:
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


def _send_quietly(*, chat_id: int | None = None, phone: str | None = None, text: str) -> None:
    """A notification: a delivery failure is logged, never raised (the change stands)."""
    try:
        if phone:
            send_sms(to=phone, body=text)
        if chat_id is not None:
            send_telegram(chat_id, text)
    except (SmsDeliveryError, TelegramDeliveryError) as exc:
        logger.warning("A notification could not be delivered: %s", exc)


def _notify_factor_change(
    user_id: int,
    *,
    factor: str,
    change: str,
    at: dt.datetime,
    also_chats: tuple[int, ...] = (),
    skip_chats: tuple[int, ...] = (),
) -> None:
    """Tell the person that a second factor changed (run after commit): SMS to the confirmed
    phone, and a message to the linked Telegram chat (and to a chat that was just unlinked)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    with translation.override(user.language):
        text = str(FACTOR_CHANGE_MESSAGES[change]) % {
            "factor": FACTOR_NAMES[factor],
            "when": at.astimezone(clock.ALMATY).strftime("%d.%m.%Y %H:%M"),
        }
    if user.phone and user.phone_verified_at is not None:
        _send_quietly(phone=user.phone, text=text)
    linked = TelegramDevice.objects.filter(user=user, confirmed=True, chat_id__isnull=False)
    chats = (set(linked.values_list("chat_id", flat=True)) | set(also_chats)) - set(skip_chats)
    for chat_id in sorted(chats):
        _send_quietly(chat_id=chat_id, text=text)


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


# --- Passkeys (A2) --------------------------------------------------------------------------------
#
# A passkey is a WebAuthn credential (django-otp-webauthn's WebAuthnCredential, a django-otp
# device): the browser signs our one-time challenge with a key that never leaves the person's
# device, usually after a fingerprint, a face or a PIN. It is a second factor only: sign-in starts
# with EDS or a password, and the package's own views (a passkey alone) are not routed.
#
# The state of a ceremony (its challenge) is kept in the browser session, bound to the person (set
# up) or the sign-in (use) it was made for, valid for the ceremony's timeout and used once: it is
# taken out of the session, and the session saved, before anything is checked.
#
# Locking: a sign-in locks its SignIn row, then the person's passkeys (so a sign count is compared
# with the last one committed), then the person (failures), the same order as sign_in_verify.

PASSKEY_REGISTRATION = "kezek_passkey_registration"
PASSKEY_SIGN_IN = "kezek_passkey_sign_in"
PASSKEY_NAME_LENGTH = 64  # WebAuthnCredential.name
# What a browser (or someone posing as one) may send that does not check out.
_PASSKEY_ERRORS = (WebAuthnException, OTPWebAuthnApiError, ValueError, TypeError, KeyError)


class PasskeyHelper(WebAuthnHelper):
    """django-otp-webauthn's helper, reading the WEBAUTHN_* settings at each ceremony."""

    def get_relying_party_domain(self) -> str:
        return settings.WEBAUTHN_RP_ID

    def get_relying_party_name(self) -> str:
        return settings.WEBAUTHN_RP_NAME

    def get_allowed_origins(self) -> list[str]:
        return list(settings.WEBAUTHN_ALLOWED_ORIGINS)

    def get_generate_authentication_options_kwargs(
        self, *, user=None, require_user_verification: bool
    ) -> dict:
        kwargs = super().get_generate_authentication_options_kwargs(
            user=user, require_user_verification=require_user_verification
        )
        if not require_user_verification:
            # The authenticator asks for the fingerprint or PIN where it can; a security key
            # without either still proves the person holds it, which is what a second factor is.
            kwargs["user_verification"] = UserVerificationRequirement.PREFERRED
        return kwargs


def passkeys_of(user: User) -> list[WebAuthnCredential]:
    """The person's passkeys, oldest first, as the security page lists them."""
    return list(
        WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at", "pk")
    )


def _keep_ceremony(request: HttpRequest, key: str, state: dict, *, bound_to: str) -> None:
    expires_at = clock.now() + dt.timedelta(seconds=webauthn_settings.OTP_WEBAUTHN_TIMEOUT_SECONDS)
    request.session[key] = {**state, "bound_to": bound_to, "expires_at": expires_at.isoformat()}


def _take_ceremony(request: HttpRequest, key: str) -> dict | None:
    """The ceremony's state, out of the session for good (saved at once, whatever comes next)."""
    state = request.session.pop(key, None)
    request.session.save()
    return state if isinstance(state, dict) else None


def _ceremony_is_open(state: dict | None, *, bound_to: str, now: dt.datetime) -> bool:
    return (
        state is not None
        and state.get("bound_to") == bound_to
        and dt.datetime.fromisoformat(state["expires_at"]) > now
    )


def passkey_register_begin(*, user: User, request: HttpRequest) -> dict[str, Any]:
    """Options for `navigator.credentials.create()` (binary values in base64url). The challenge
    waits in the session for `passkey_register_complete`; the person's passkeys are excluded, so
    one authenticator is not registered twice."""
    with transaction.atomic():  # the person's WebAuthn user handle is made on first use
        options, state = PasskeyHelper(request).register_begin(user=user)
    _keep_ceremony(request, PASSKEY_REGISTRATION, state, bound_to=f"user:{user.pk}")
    return options


def passkey_register_complete(
    *, user: User, request: HttpRequest, data: Any, name: str = ""
) -> WebAuthnCredential:
    """Check the browser's answer to `passkey_register_begin` (challenge, origin, relying party,
    the new public key) and keep the passkey, confirmed: a second factor from now on. Audited as
    `auth.factor_added` and told to the person like every factor change."""
    now = clock.now()
    state = _take_ceremony(request, PASSKEY_REGISTRATION)
    if not _ceremony_is_open(state, bound_to=f"user:{user.pk}", now=now):
        raise ApplicationError(
            "passkey_not_started",
            _("This passkey set-up has expired or was already finished. Start again."),
            status=400,
        )
    name = " ".join((name or "").split())[:PASSKEY_NAME_LENGTH] or str(_("Passkey"))
    try:
        with transaction.atomic():
            device = PasskeyHelper(request).register_complete(user=user, state=state, data=data)
            device.name = name
            device.save(update_fields=["name"])
            audit.record(
                "auth.factor_added",
                actor=user,
                target=user,
                after={"factor": "passkey", "device": device.pk, "name": name},
            )
            transaction.on_commit(
                functools.partial(
                    _notify_factor_change, user.pk, factor="passkey", change="added", at=now
                ),
                robust=True,
            )
    except IntegrityError as exc:
        raise ApplicationError(
            "passkey_exists", _("This passkey is already registered."), status=409
        ) from exc
    except _PASSKEY_ERRORS as exc:
        logger.info("A passkey was not set up: %r", exc)
        raise ApplicationError(
            "passkey_refused",
            _(
                "The passkey could not be set up: the browser's answer did not check out. "
                "Try again."
            ),
            status=400,
        ) from exc
    return device


def sign_in_passkey_begin(*, challenge: str, request: HttpRequest) -> dict[str, Any]:
    """Options for `navigator.credentials.get()` for this sign-in, naming the person's passkeys;
    the challenge waits in the session for `sign_in_passkey_complete`."""
    now = clock.now()
    sign_in = _open_sign_in(challenge, now)
    _refuse_if_locked(sign_in.user, now)
    if not WebAuthnCredential.objects.filter(user=sign_in.user, confirmed=True).exists():
        raise _invalid("factor", _("You have not set up this factor."))
    options, state = PasskeyHelper(request).authenticate_begin(
        user=sign_in.user, require_user_verification=False
    )
    _keep_ceremony(request, PASSKEY_SIGN_IN, state, bound_to=f"sign_in:{sign_in.pk}")
    return options


def _check_passkey(
    request: HttpRequest, user: User, state: dict | None, data: Any
) -> tuple[WebAuthnCredential | None, ApplicationError | None]:
    """The person's passkey signed this ceremony's challenge, for our relying party and origin,
    with a sign count above the last one; the caller's transaction holds the sign-in's lock."""
    refusal = ApplicationError(
        "invalid_passkey",
        _("The passkey did not confirm this sign-in. Try again or choose another factor."),
        status=401,
    )
    if state is None:
        return None, refusal
    list(locks.devices(WebAuthnCredential.objects.filter(user=user).order_by("pk")))
    try:
        device = PasskeyHelper(request).authenticate_complete(user=user, state=state, data=data)
    except _PASSKEY_ERRORS as exc:
        logger.info("A passkey did not sign in: %r", exc)
        return None, refusal
    if not device.confirmed:
        return None, refusal
    return device, None


def sign_in_passkey_complete(*, challenge: str, request: HttpRequest, data: Any) -> SignedIn:
    """Check the passkey's signature (from `navigator.credentials.get()`); on success the sign-in
    is complete, exactly as with a code (A2); a refusal counts towards the lock (A3)."""
    now = clock.now()
    state = _take_ceremony(request, PASSKEY_SIGN_IN)
    with transaction.atomic():
        sign_in = _open_sign_in(challenge, now, lock=True)
        user = User.objects.get(pk=sign_in.user_id)
        _refuse_if_locked(user, now)
        if not _ceremony_is_open(state, bound_to=f"sign_in:{sign_in.pk}", now=now):
            state = None
        device, refusal = _check_passkey(request, user, state, data)
        _second_factor_checked(sign_in, user, factor="passkey", refusal=refusal, now=now)
    return _second_factor_outcome(sign_in, user, device=device, refusal=refusal, now=now)
