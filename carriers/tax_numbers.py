"""National tax numbers of carriers from abroad (A7): one check per country, the number kept as
it is compacted here (no spaces or dashes, capital letters).

python-stdnum knows Russia's INN and China's unified social credit code with their check digits;
2.1 has no module for Kyrgyzstan or Uzbekistan, so those two are checked by their length only.
A country of the reference without a check of its own takes any 3 to 20 letters and digits: the
operator checks the number against the documents anyway.
"""

import dataclasses
import re
from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.ru import inn as ru_inn

MAX_LENGTH = 20  # Carrier.tax_number


def _digits(count: int) -> Callable[[str], str]:
    def check(number: str) -> str:
        if not re.fullmatch(rf"[0-9]{{{count}}}", number):
            raise StdnumError()
        return number

    return check


def _letters_and_digits(number: str) -> str:
    if not re.fullmatch(rf"[A-Z0-9]{{3,{MAX_LENGTH}}}", number):
        raise StdnumError()
    return number


@dataclasses.dataclass(frozen=True)
class TaxNumberFormat:
    check: Callable[[str], str]  # the number compacted, or stdnum's ValidationError
    expected: Promise  # what the number looks like, said to the person who typed it


FORMATS: dict[str, TaxNumberFormat] = {
    "RU": TaxNumberFormat(
        ru_inn.validate,
        _(
            "A Russian INN is 10 digits (an organisation) or 12 digits (an individual "
            "entrepreneur) with valid check digits."
        ),
    ),
    # The Kyrgyz INN (PIN) of an organisation or a person: 14 digits; its check digit is not
    # published, so only the length is checked.
    "KG": TaxNumberFormat(_digits(14), _("A Kyrgyz INN is 14 digits.")),
    # The Uzbek STIR (INN): 9 digits, no published check digit.
    "UZ": TaxNumberFormat(_digits(9), _("An Uzbek STIR (INN) is 9 digits.")),
    "CN": TaxNumberFormat(
        uscc.validate,
        _(
            "A Chinese unified social credit code is 18 digits and capital letters with a "
            "valid check character."
        ),
    ),
}
OTHER = TaxNumberFormat(_letters_and_digits, _("A tax number is 3 to 20 Latin letters and digits."))


def compact(raw: str) -> str:
    """'77 07-083 893' → '7707083893': what people type around a number goes."""
    return re.sub(r"[\s\-./]", "", raw or "").upper()


def normalize_tax_number(country: str, raw: str) -> str:
    """The tax number of `country` as stored, or a ValidationError naming the expected format."""
    rule = FORMATS.get(country, OTHER)
    number = compact(raw)
    try:
        if not number.isascii():
            raise StdnumError()
        number = rule.check(number)
    except StdnumError:
        raise ValidationError(rule.expected, code="invalid_tax_number") from None
    if len(number) > MAX_LENGTH:
        raise ValidationError(rule.expected, code="invalid_tax_number")
    return number
