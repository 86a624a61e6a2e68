"""Receipt numbers and verification codes (P5).

A verification code is 20 characters of Crockford's base32 (digits and Latin capitals without
I, L, O and U), shown in five groups of four: ``7K2M-9QXD-4HBT-W3ZP-A1C8``.

* The first 16 characters are 80 random bits (``secrets``): nobody guesses a code, so only
  whoever holds the receipt can look it up.
* The last 4 characters are a check part: the first 20 bits of SHA-256 over the random part.
  It is not a secret (anyone can compute it) and it does not depend on SECRET_KEY, so codes stay
  valid whatever keys are rotated. It only tells a mistyped or edited code from a code nobody
  issued: a code whose check part does not match its random part was **altered** (a change is
  caught with probability 1 − 2⁻²⁰; the one in a million that slips through reads as unknown);
  a well-formed code whose check part matches but that no receipt carries is **unknown**.

Input is read the way people type or scan it: any case, with or without spaces or hyphens, and
the letters O, I and L read as 0, 1 and 1 (Crockford's rule for look-alikes).
"""

import dataclasses
import hashlib
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 16  # 80 random bits
CHECK_LENGTH = 4  # 20 bits of SHA-256
CODE_LENGTH = BODY_LENGTH + CHECK_LENGTH
GROUP = 4
_LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SALT = b"kezek-receipt-verification:"


class CodeState:
    WELL_FORMED = "well_formed"  # the check part matches: look the code up
    ALTERED = "altered"  # right length and characters, but the check part does not match
    MALFORMED = "malformed"  # not a receipt code at all (length or characters)


@dataclasses.dataclass(frozen=True)
class ParsedCode:
    state: str
    code: str  # the canonical grouped form when the length and characters are right, else ""


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def check_part(body: str) -> str:
    digest = hashlib.sha256(_SALT + body.encode("ascii")).digest()
    return _base32(int.from_bytes(digest[:3], "big") >> 4, CHECK_LENGTH)


def group(code: str) -> str:
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def new_verification_code() -> str:
    body = _base32(secrets.randbits(BODY_LENGTH * 5), BODY_LENGTH)
    return group(body + check_part(body))


def parse_verification_code(text: str) -> ParsedCode:
    """Read a typed or scanned code: well-formed, altered, or not a code at all."""
    compact = "".join((text or "").split()).replace("-", "").upper().translate(_LOOK_ALIKES)
    if len(compact) != CODE_LENGTH or any(char not in ALPHABET for char in compact):
        return ParsedCode(CodeState.MALFORMED, "")
    body, check = compact[:BODY_LENGTH], compact[BODY_LENGTH:]
    state = CodeState.WELL_FORMED if check_part(body) == check else CodeState.ALTERED
    return ParsedCode(state, group(compact))


def receipt_number(*, year: int, serial: int) -> str:
    """'R-2026-0000123': the year of the transfer and the serial of the payment's batch line
    (unique, as each payment is in exactly one batch line)."""
    return f"R-{year}-{serial:07d}"


def masked_payer_number(receipt) -> str:
    """The payer's number on the public verification: the IIN/BIN the receipt names, or a
    carrier from abroad's country and tax number ("RU ******3893"), all but the last 4 hidden."""
    if receipt.payer_iin_bin or not receipt.carrier.is_foreign:
        return mask_iin_bin(receipt.payer_iin_bin)
    return f"{receipt.carrier.country} {mask_iin_bin(receipt.carrier.tax_number)}"


def mask_iin_bin(iin_bin: str) -> str:
    """'********2340': an IIN is personal data (it encodes the birth date), so the public
    verification page shows only the last 4 digits of the payer's IIN/BIN."""
    value = iin_bin or ""
    return "*" * max(len(value) - 4, 0) + value[-4:]
