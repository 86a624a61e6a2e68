"""Personal account numbers (P1): made with a Luhn check digit, and found in a payment's
details however a bank or a payer wrote them."""

from __future__ import annotations

import re

ACCOUNT_NUMBER_PREFIX = "KZK"
ACCOUNT_NUMBER_SEQUENCE_DIGITS = 8
MAX_ACCOUNT_SEQUENCE = 10**ACCOUNT_NUMBER_SEQUENCE_DIGITS - 1

# ---------------------------------------------------------------------------------------------
# Personal account numbers


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit to append to `digits`."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("Luhn digits must be ASCII digits.")
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 0:  # the rightmost digit is doubled, as is every second one after it
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def personal_account_number(n: int) -> str:
    """The account number of sequence number `n` (1 to 99 999 999): 12345678 → 'KZK123456782'."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ACCOUNT_SEQUENCE:
        raise ValueError(f"A personal account sequence number is 1 to {MAX_ACCOUNT_SEQUENCE}.")
    digits = f"{n:0{ACCOUNT_NUMBER_SEQUENCE_DIGITS}d}"
    return f"{ACCOUNT_NUMBER_PREFIX}{digits}{luhn_check_digit(digits)}"


# Cyrillic К/к read as Latin K; Z has no Cyrillic look-alike ("З" looks like the digit 3).
_K = "KkКк"
_Z = "Zz"
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2212"
_ACCOUNT_NUMBER_IN_TEXT = re.compile(
    rf"[{_K}][{_Z}][{_K}]"
    rf"[\s{_DASHES}:#№.]{{0,4}}"
    rf"(?P<digits>[0-9]+(?:[\s{_DASHES}]{{1,3}}[0-9]+)*)"
)
_DIGIT_GROUPS = re.compile(r"[0-9]+")
_ACCOUNT_NUMBER_SEPARATORS = re.compile(rf"[\s{_DASHES}]+")
_NORMALIZED_ACCOUNT_NUMBER = re.compile(r"KZK([0-9]{9})")
_TO_LATIN_K = str.maketrans({"К": "K", "к": "k"})


def normalize_personal_account_number(value: object) -> str | None:
    """'kzk 1234 5678-2' or 'КZК123456782' → 'KZK123456782'; None unless it is a valid number."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    compact = _ACCOUNT_NUMBER_SEPARATORS.sub("", value).translate(_TO_LATIN_K).upper()
    match = _NORMALIZED_ACCOUNT_NUMBER.fullmatch(compact)
    if match is None:
        return None
    digits = match.group(1)
    if luhn_check_digit(digits[:-1]) != int(digits[-1]) or int(digits[:-1]) == 0:
        return None
    return compact


def is_valid_personal_account_number(value: object) -> bool:
    """Whether `value` is a personal account number with the right check digit (tolerant form)."""
    return normalize_personal_account_number(value) is not None


def find_account_numbers(remittance: str) -> list[str]:
    """The valid personal account numbers in a remittance text, normalized, each once, in order.

    After the "KZK" prefix, digit groups are taken while they add up to fewer than 9 digits; a
    number is a candidate only if a group boundary falls exactly at 9 digits, so an amount or a
    date written after the number is not glued to it ("KZK 1234 5678 2 100 000 тг").
    """
    if not isinstance(remittance, str):
        return []
    found: list[str] = []
    for match in _ACCOUNT_NUMBER_IN_TEXT.finditer(remittance):
        digits = ""
        for group in _DIGIT_GROUPS.findall(match.group("digits")):
            digits += group
            if len(digits) >= 9:
                break
        if len(digits) != 9:
            continue
        number = normalize_personal_account_number(ACCOUNT_NUMBER_PREFIX + digits)
        if number is not None and number not in found:
            found.append(number)
    return found
