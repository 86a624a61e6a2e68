"""IIN/BIN: Kazakhstan's 12-digit individual and business identification numbers (A1)."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def iin_bin_check_digit(first_eleven: str) -> int | None:
    """The 12th digit by the published algorithm: the weighted sum of the first 11 digits mod 11
    with weights 1..11; when that gives 10, again with weights 3..11,1,2; when that gives 10 too
    the number is never issued (None)."""
    digits = [int(ch) for ch in first_eleven]
    check = sum(d * w for d, w in zip(digits, _FIRST_WEIGHTS, strict=True)) % 11
    if check == 10:
        check = sum(d * w for d, w in zip(digits, _SECOND_WEIGHTS, strict=True)) % 11
        if check == 10:
            return None
    return check


def first_valid_iin_bin_from(first_eleven: int) -> str:
    """The first number that can be issued whose first 11 digits are `first_eleven` or come
    after it (made-up carriers of the bench and the tests)."""
    while True:
        digits = f"{first_eleven:011d}"
        check = iin_bin_check_digit(digits)
        if check is not None:
            return digits + str(check)
        first_eleven += 1


def is_valid_iin_bin(value: str) -> bool:
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    return iin_bin_check_digit(value[:11]) == int(value[11])


def validate_iin_bin(value: str) -> None:
    if not is_valid_iin_bin(value):
        raise ValidationError(
            _("An IIN or BIN is 12 digits with a valid check digit."), code="invalid_iin_bin"
        )
