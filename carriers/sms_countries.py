"""A8: SMS that a person's typing sends (registration codes, invitations) go only to the calling
codes of settings.SMS_ALLOWED_COUNTRY_CODES. E.164 country codes are prefix-free, so a number has
at most one of them."""

from django.conf import settings


def served_calling_codes() -> list[str]:
    """'+7', '+996', … as the settings list them."""
    codes = (code.strip().lstrip("+") for code in settings.SMS_ALLOWED_COUNTRY_CODES)
    return ["+" + code for code in codes if code]


def is_served_phone(phone: str) -> bool:
    """Whether an E.164 number (auth2fa.phones.normalize_phone) has one of the served codes."""
    return any(phone.startswith(code) for code in served_calling_codes())
