"""What every part of registration and sign-in shares: the limits of A3 and the factors."""

import datetime as dt
import hashlib

from core.errors import ApplicationError

RESEND_AFTER = dt.timedelta(seconds=60)
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
