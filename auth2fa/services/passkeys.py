"""Passkeys (A2): registered on the security page, used as the second factor at sign-in."""

import datetime as dt
import functools
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_otp_webauthn.exceptions import OTPWebAuthnApiError
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.settings import app_settings as webauthn_settings
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import UserVerificationRequirement

from auth2fa import locks
from auth2fa.models import (
    User,
)
from auth2fa.services._common import (
    _invalid,
)
from auth2fa.services.codes import _notify_factor_change
from auth2fa.services.sign_in import (
    SignedIn,
    _open_sign_in,
    _refuse_if_locked,
    _second_factor_checked,
    _second_factor_outcome,
)
from core import audit, clock
from core.errors import ApplicationError

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


logger = logging.getLogger(__name__)


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
