import re

from django.utils.translation import gettext as _

from core.errors import ApplicationError

E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def normalize_phone(raw: str) -> str:
    """'+7 (701) 123-45-67' or the local '8 701 123 45 67' → '+77011234567' (E.164, A1)."""
    digits = re.sub(r"[\s\-().]", "", raw or "")
    if re.fullmatch(r"8\d{10}", digits):
        digits = "+7" + digits[1:]
    if not E164.fullmatch(digits):
        raise ApplicationError(
            "validation_error",
            _("Write the phone number in international form, like +7 701 123 45 67."),
            fields={"phone": [_("Not a valid phone number.")]},
        )
    return digits
