"""Registration and sign-in with two factors (A1–A4), by subject: registration, sign_in (with
the EDS first factor), codes, factors, passkeys, tokens (and browser sessions).

Every function owns its transaction and writes its audit event in it. Failures that must be
remembered (a wrong code, a wrong password) are committed before the refusal is raised, so a
refused request still counts towards the limits of A3. Locks: auth2fa.locks and docs/locking.md.

The public names are here for the views, the API and the other apps.
"""

from auth2fa.services._common import (
    CODE_FACTORS,
    FACTORS,
    FAILURE_WINDOW,
    FAILURES_BEFORE_LOCK,
    LOCK_FOR,
    RESEND_AFTER,
)
from auth2fa.services.codes import (
    FACTOR_CHANGE_MESSAGES,
    FACTOR_NAMES,
    PRIMARY_FACTORS,
    TELEGRAM_PER_CHAT_DAY,
    TELEGRAM_PER_CHAT_HOUR,
)
from auth2fa.services.factors import (
    TELEGRAM_REPLIES,
    TelegramLink,
    TelegramLinkOutcome,
    backup_codes_generate,
    factor_remove,
    telegram_link_complete,
    telegram_link_start,
    totp_enroll_confirm,
    totp_enroll_start,
)
from auth2fa.services.passkeys import (
    PASSKEY_NAME_LENGTH,
    PASSKEY_REGISTRATION,
    PASSKEY_SIGN_IN,
    PasskeyHelper,
    passkey_register_begin,
    passkey_register_complete,
    passkeys_of,
    sign_in_passkey_begin,
    sign_in_passkey_complete,
)
from auth2fa.services.registration import (
    Registration,
    carrier_confirm_with_eds,
    person_register,
    registration_code_resend,
    registration_create,
    registration_verify,
    unconfirmed_registrations_lapse,
)
from auth2fa.services.sign_in import (
    EDS_NONCE_TTL,
    EdsNonce,
    SignedIn,
    SignInStarted,
    eds_nonce_issue,
    factors_of,
    sign_in_code_send,
    sign_in_verify,
    sign_in_with_eds,
    sign_in_with_eds_signature,
    sign_in_with_password,
)
from auth2fa.services.tokens import (
    IssuedToken,
    api_token_for_secret,
    api_token_issue,
    api_token_revoke,
    web_session_end,
    web_session_start,
)

__all__ = [
    "CODE_FACTORS",
    "EDS_NONCE_TTL",
    "FACTORS",
    "FACTOR_CHANGE_MESSAGES",
    "FACTOR_NAMES",
    "FAILURES_BEFORE_LOCK",
    "FAILURE_WINDOW",
    "LOCK_FOR",
    "PASSKEY_NAME_LENGTH",
    "PASSKEY_REGISTRATION",
    "PASSKEY_SIGN_IN",
    "PRIMARY_FACTORS",
    "RESEND_AFTER",
    "TELEGRAM_PER_CHAT_DAY",
    "TELEGRAM_PER_CHAT_HOUR",
    "TELEGRAM_REPLIES",
    "EdsNonce",
    "IssuedToken",
    "PasskeyHelper",
    "Registration",
    "SignInStarted",
    "SignedIn",
    "TelegramLink",
    "TelegramLinkOutcome",
    "api_token_for_secret",
    "api_token_issue",
    "api_token_revoke",
    "backup_codes_generate",
    "carrier_confirm_with_eds",
    "eds_nonce_issue",
    "factor_remove",
    "factors_of",
    "passkey_register_begin",
    "passkey_register_complete",
    "passkeys_of",
    "person_register",
    "registration_code_resend",
    "registration_create",
    "registration_verify",
    "sign_in_code_send",
    "sign_in_passkey_begin",
    "sign_in_passkey_complete",
    "sign_in_verify",
    "sign_in_with_eds",
    "sign_in_with_eds_signature",
    "sign_in_with_password",
    "telegram_link_complete",
    "telegram_link_start",
    "totp_enroll_confirm",
    "totp_enroll_start",
    "unconfirmed_registrations_lapse",
    "web_session_end",
    "web_session_start",
]
