"""Registration and sign-in with two factors (A1–A4).

Every function owns its transaction and writes its audit event in it. Failures that must be
remembered (a wrong code, a wrong password) are committed before the refusal is raised, so a
refused request still counts towards the limits of A3.

Locking: a code is issued and checked under a row lock on its device, and failures are counted
under a row lock on the person, so parallel guesses are counted one by one (A3).
"""

import dataclasses
import datetime as dt
import hashlib
import math
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from auth2fa.models import (
    ApiToken,
    CodeCheck,
    CodeDevice,
    SignIn,
    SignInFailure,
    SmsDevice,
    SmsSent,
    User,
    UserSession,
)
from auth2fa.phones import normalize_phone
from carriers.models import Carrier, Member
from carriers.validators import is_valid_iin_bin
from core import audit, clock
from core.errors import ApplicationError
from notify.sms import SmsDeliveryError, send_sms

RESEND_AFTER = dt.timedelta(seconds=60)
SMS_PER_PHONE_HOUR = 5
SMS_PER_PHONE_DAY = 20
FAILURES_BEFORE_LOCK = 10
FAILURE_WINDOW = dt.timedelta(hours=1)
LOCK_FOR = dt.timedelta(minutes=15)

# Second factors a person can use, in the order they are offered.
CODE_FACTORS = ("sms",)
FACTORS = ("sms", "totp")


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={field: [message]})


# --- Registration (A1) --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Registration:
    user: User
    carrier: Carrier


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
    errors: dict[str, list[str]] = {}
    if carrier_kind not in Carrier.Kind.values:
        errors["carrier.kind"] = [_("Choose company or individual.")]
    if not is_valid_iin_bin(carrier_iin_bin):
        errors["carrier.iin_bin"] = [_("An IIN or BIN is 12 digits with a valid check digit.")]
    if not is_valid_iin_bin(iin):
        errors["person.iin"] = [_("An IIN is 12 digits with a valid check digit.")]
    if carrier_kind == Carrier.Kind.INDIVIDUAL and carrier_iin_bin != iin:
        errors["carrier.iin_bin"] = [_("An individual entrepreneur registers under their own IIN.")]
    if not carrier_name.strip():
        errors["carrier.name"] = [_("Write the carrier's name.")]
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
        if Carrier.objects.filter(iin_bin=carrier_iin_bin).exists():
            errors["carrier.iin_bin"] = [_("A carrier with this IIN/BIN is already registered.")]
        if User.objects.filter(email__iexact=email).exists():
            errors["person.email"] = [_("This e-mail address is already registered.")]
        if User.objects.filter(Q(phone=phone) | Q(iin=iin)).exists():
            errors["person.phone"] = [_("A person with this phone or IIN is already registered.")]
    if errors:
        raise ApplicationError("validation_error", _("Some fields are not valid."), fields=errors)
    try:
        with transaction.atomic():
            user = User.objects.create(
                email=email,
                phone=phone,
                full_name=full_name.strip(),
                iin=iin,
                language=language if language in ("kk", "ru", "en") else "ru",
                password=make_password(password),
            )
            carrier = Carrier.objects.create(
                kind=carrier_kind, iin_bin=carrier_iin_bin, name=carrier_name.strip()
            )
            Member.objects.create(carrier=carrier, user=user, role=Member.Role.OWNER)
            device = SmsDevice.objects.create(
                user=user, name=_("Phone"), phone=phone, confirmed=False
            )
            audit.record(
                "auth.registered",
                actor=user,
                target=carrier,
                after={"carrier": carrier_iin_bin, "person": email, "phone": phone},
            )
            code = _issue_sms_code(device, purpose="registration", now=clock.now())
    except IntegrityError as exc:
        # Two registrations of the same person or carrier at once: the second one loses here.
        raise ApplicationError(
            "validation_error",
            _("This carrier or person has just been registered."),
            fields={"carrier.iin_bin": [_("Already registered.")]},
        ) from exc
    _deliver_code(device, code)
    return Registration(user=user, carrier=carrier)


def registration_code_resend(*, phone: str) -> int:
    """Send a new code for a registration not confirmed yet; returns seconds until the next one."""
    phone = normalize_phone(phone)
    now = clock.now()
    with transaction.atomic():
        device = SmsDevice.objects.select_for_update().filter(phone=phone, confirmed=False).first()
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
        device = (
            SmsDevice.objects.select_for_update().select_related("user").filter(phone=phone).first()
        )
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
        else:
            device.deliver(message)
    except SmsDeliveryError as exc:
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
    locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
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
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        available.append("totp")
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
        sign_ins = sign_ins.select_for_update(of=("self",))
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
    else:
        raise _invalid("factor", _("Choose one of your factors: %s.") % ", ".join(factors_of(user)))
    if lock:
        devices = devices.select_for_update()
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
        code = _issue_sms_code(device, purpose="sign_in", now=now)
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
            device = (
                TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            )
            if device is None:
                raise _invalid("factor", _("You have not set up this factor."))
            if not device.verify_token(code or ""):
                refusal = ApplicationError(
                    "invalid_code",
                    _("The code from your authenticator app is not right."),
                    status=401,
                    fields={"code": [_("Wrong code.")]},
                )
        else:
            raise _invalid(
                "factor", _("Choose one of your factors: %s.") % ", ".join(factors_of(user))
            )
        if refusal is not None:
            _record_failure(user, reason=f"code:{factor}", now=now)
        else:
            sign_in.completed_at = now
            sign_in.save(update_fields=["completed_at"])
            User.objects.filter(pk=user.pk).update(last_login=now)
            audit.record(
                "auth.signed_in",
                actor=user,
                target=user,
                after={"first_factor": sign_in.first_factor, "second_factor": factor},
            )
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
    """The live token with this secret, or None (unknown, revoked or expired)."""
    now = clock.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash_secret(secret), revoked_at__isnull=True)
        .first()
    )
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
            user_agent=user_agent[:300],
        )
        audit.record("auth.session_started", actor=user, target=session, after={"ip": ip})
    return session


def web_session_end(*, session: UserSession, actor: User) -> None:
    """End a browser session: it is signed out on its next request (and its data deleted)."""
    from importlib import import_module

    with transaction.atomic():
        updated = UserSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(
            ended_at=clock.now()
        )
        if updated:
            audit.record("auth.session_ended", actor=actor, target=session)
    if updated:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        store(session_key=session.session_key).delete()
