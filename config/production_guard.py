import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger("kezek.production")


def refuse_unsafe_production() -> None:
    """A server or worker with DEBUG off must not run on the generated development key, nor
    write sign-in codes to its log (the console SMS backend); password sign-in is allowed but
    said loudly, since production should require the EDS (A2)."""
    if settings.DEBUG:
        return
    if settings.SECRET_KEY_IS_GENERATED:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off Kezek refuses to start on the generated "
            "development key: set SECRET_KEY in the environment (or DEBUG=1 for development)."
        )
    if settings.SMS_BACKEND == "console" and not settings.SMS_CONSOLE_ALLOWED:
        raise ImproperlyConfigured(
            "SMS_BACKEND is console: every sign-in code would be written to the log instead of "
            "being sent. Set SMS_BACKEND=twilio with the TWILIO_* settings (or DEBUG=1 for "
            "development; SMS_CONSOLE_ALLOWED=1 only where nobody real signs in)."
        )
    if settings.PASSWORD_LOGIN:
        logger.warning(
            "PASSWORD_LOGIN is on with DEBUG off: people can sign in with a password instead of "
            "their EDS. Set PASSWORD_LOGIN=0 in production unless this is intended."
        )
