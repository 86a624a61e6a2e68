"""IBAN checks for refunds (P3): ISO 13616 mod-97, with Kazakhstan's 20-character form."""

import re

from django.utils.translation import gettext as _

from core.errors import ApplicationError

# Lengths for the countries whose banks carriers here use most; others pass the general checks.
LENGTHS = {"KZ": 20, "RU": 33, "KG": 26, "UZ": 28, "DE": 22, "GB": 22, "TR": 26, "AE": 23}


def _refuse(message: str) -> ApplicationError:
    return ApplicationError("validation_error", message, fields={"iban": [message]})


def normalize_iban(raw: str) -> str:
    """'kz86 125K ZT50 0410 0100' → 'KZ86125KZT5004100100', or a clear refusal."""
    iban = re.sub(r"[\s-]", "", raw or "").upper()
    # ASCII only: \d would also take other scripts' digits ("٨٦"), which int() reads as 8 and 6,
    # so such an IBAN would pass its check and reach the bank in a form no bank accepts.
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{8,30}", iban):
        raise _refuse(_("An IBAN starts with two letters and two digits, like KZ86 125K ZT50 …"))
    expected = LENGTHS.get(iban[:2])
    if expected and len(iban) != expected:
        raise _refuse(
            _("An IBAN of %(country)s has %(length)s characters.")
            % {"country": iban[:2], "length": expected}
        )
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    if int(number) % 97 != 1:
        raise _refuse(_("This IBAN has a typo: its check digits do not match."))
    return iban
