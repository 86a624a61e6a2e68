"""Plates and VINs written one way before anything compares them (B6, B7).

Pure functions: no database, no settings. Whatever a person types, these either return the one
normalised form or raise `ApplicationError("validation_error")` with a field message that says
what is wrong. A normalised value goes through them again unchanged.

Plates (B7): upper case; spaces, dashes and dots removed; Cyrillic letters that look like Latin
ones folded to Latin (so "123 АВС 02" typed on a Russian keyboard is "123ABC02"). Kazakh plates
must be `NNN LLL RR` or `NNN LL RR` with a region code 01–20; plates of other countries are
accepted in a general form (2–12 Latin letters and digits, at least one digit), because every
country has its own.

VINs (ISO 3779): 17 letters and digits without I, O and Q. The check digit in position 9 is
required only in North America; vehicles on Kazakhstan's roads come from everywhere, so it is not
enforced here.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _

from core.errors import ApplicationError

KAZAKHSTAN = "KZ"

# Region codes of Kazakh plates (checkpoints/data/checkpoints.json `plate_regions_kz` names them;
# a test keeps the two lists equal).
KZ_PLATE_REGIONS = frozenset(f"{number:02d}" for number in range(1, 21))

# Cyrillic (Russian and Kazakh) letters that look like Latin ones, upper and lower case. Lower-case
# letters fold to what their capital looks like: "в" is written "В", which reads as Latin "B".
_LOOKALIKES = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "І": "I",
    "а": "A", "в": "B", "е": "E", "к": "K", "м": "M", "н": "H", "о": "O", "р": "P", "с": "C",
    "т": "T", "х": "X", "у": "Y", "ү": "Y", "і": "I",
}  # fmt: skip
_FOLD = str.maketrans(
    {**_LOOKALIKES, **{chr(code): chr(code - 32) for code in range(ord("a"), ord("z") + 1)}}
)
# Separators people put between the groups: any space, dashes of every width, dots.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.·]+")
_ALLOWED = re.compile(r"[A-Z0-9]")

KZ_PLATE = re.compile(r"(?P<number>[0-9]{3})(?P<letters>[A-Z]{2,3})(?P<region>[0-9]{2})")
GENERAL_PLATE = re.compile(r"[A-Z0-9]{2,12}")
PLATE_MAX_LENGTH = 12

VIN_LENGTH = 17
VIN_FORBIDDEN = frozenset("IOQ")
VIN = re.compile(r"[A-HJ-NPR-Z0-9]{17}")


def fold(raw: str) -> str:
    """Compatibility forms made plain (full-width "１２３" is "123"), separators removed, Latin
    upper case, Cyrillic look-alikes folded to Latin. Other characters are left for the caller
    to refuse."""
    text = unicodedata.normalize("NFKC", raw)
    return _SEPARATORS.sub("", text).translate(_FOLD)


def _refuse(field: str, problem: str) -> ApplicationError:
    return ApplicationError("validation_error", problem, fields={field: [problem]})


def _strangers(text: str) -> str:
    """The characters that cannot be on a plate or in a VIN, each once, in order, quoted."""
    seen: list[str] = []
    for char in text:
        if not _ALLOWED.fullmatch(char) and char not in seen:
            seen.append(char)
    return ", ".join(f"“{char}”" for char in seen[:5])


def _text(raw: object, field: str, missing: str) -> str:
    if raw is None:
        raise _refuse(field, missing)
    if not isinstance(raw, str):
        raise _refuse(field, _("Write it as text."))
    return raw


# --- Plates ---------------------------------------------------------------------------------


def normalize_plate(raw: str, country: str = KAZAKHSTAN) -> str:
    """The plate as stored and compared: "123 авс-02" → "123ABC02" (B7).

    `country` is the ISO 3166 code of the registration country; only Kazakh plates (KZ) are held
    to their national format. Raises ApplicationError("validation_error", fields={"plate": …}).
    """
    text = fold(_text(raw, "plate", _("Enter the plate number.")))
    if not text:
        raise _refuse("plate", _("Enter the plate number."))
    strangers = _strangers(text)
    if strangers:
        raise _refuse(
            "plate",
            _(
                "A plate has only Latin letters and digits (Cyrillic letters that look like Latin "
                "ones are accepted); remove %(characters)s."
            )
            % {"characters": strangers},
        )
    if str(country or "").strip().upper() == KAZAKHSTAN:
        return _kazakh_plate(text)
    if not GENERAL_PLATE.fullmatch(text):
        raise _refuse(
            "plate",
            _("A plate has 2 to 12 letters and digits; this one has %(count)d.")
            % {"count": len(text)},
        )
    if not any(char.isdigit() for char in text):
        raise _refuse("plate", _("A plate has at least one digit."))
    return text


def _kazakh_plate(text: str) -> str:
    match = KZ_PLATE.fullmatch(text)
    if match is None:
        raise _refuse(
            "plate",
            _(
                "A Kazakh plate is 3 digits, 2 or 3 letters and a 2-digit region code, "
                "like 123 ABC 02 or 123 AB 02."
            ),
        )
    if match["region"] not in KZ_PLATE_REGIONS:
        raise _refuse(
            "plate",
            _("There is no region %(region)s: Kazakh plates have region codes 01 to 20.")
            % {"region": match["region"]},
        )
    return text


def format_plate(normalized: str, country: str = KAZAKHSTAN) -> str:
    """For people to read: "123ABC02" → "123 ABC 02". Other countries' plates, and anything
    that is not a normalised Kazakh plate, are shown as they are."""
    if str(country or "").upper() == KAZAKHSTAN:
        match = KZ_PLATE.fullmatch(normalized or "")
        if match is not None:
            return f"{match['number']} {match['letters']} {match['region']}"
    return normalized or ""


def mask_plate(normalized: str, country: str | None = None) -> str:
    """For the public live boards (Q4): enough for a driver who knows the plate to find the truck,
    too little for anyone else to read it.

    A Kazakh plate keeps its first digit, its last letter and the region:
    "123ABC02" → "1** **C 02", "123AB02" → "1** *B 02". Any other plate keeps its first character
    and its last two (often a region too) and stars the rest: "A123BC77" → "A*****77"; a plate of
    four characters or fewer keeps only its last one ("AB12" → "***2"). Stars replace characters
    one for one, so the length shows.
    """
    normalized = normalized or ""
    match = KZ_PLATE.fullmatch(normalized)
    if match is not None and (country is None or str(country).upper() == KAZAKHSTAN):
        number, letters, region = match["number"], match["letters"], match["region"]
        hidden_letters = "*" * (len(letters) - 1) + letters[-1]
        return f"{number[0]}** {hidden_letters} {region}"
    if len(normalized) <= 4:
        return "*" * max(len(normalized) - 1, 0) + normalized[-1:]
    return normalized[0] + "*" * (len(normalized) - 3) + normalized[-2:]


# --- VINs -----------------------------------------------------------------------------------


def normalize_vin(raw: str) -> str:
    """The VIN as stored and compared (B6): 17 letters and digits, upper case, Cyrillic look-alikes
    folded, spaces and dashes removed. I, O and Q never occur in a VIN (ISO 3779): they are refused
    with a hint, not silently changed to 1 or 0. The check digit (position 9) is not verified: only
    North American VINs must carry one.
    """
    text = fold(_text(raw, "vin", _("Enter the VIN.")))
    if not text:
        raise _refuse("vin", _("Enter the VIN."))
    strangers = _strangers(text)
    if strangers:
        raise _refuse(
            "vin",
            _("A VIN has only Latin letters and digits; remove %(characters)s.")
            % {"characters": strangers},
        )
    if len(text) != VIN_LENGTH:
        raise _refuse(
            "vin",
            _("A VIN has 17 characters; this one has %(count)d.") % {"count": len(text)},
        )
    wrong = [
        f"“{char}” ({position})"
        for position, char in enumerate(text, start=1)
        if char in VIN_FORBIDDEN
    ]
    if wrong:
        raise _refuse(
            "vin",
            _(
                "A VIN never contains the letters I, O or Q; check the characters at these "
                "positions (perhaps 1 or 0): %(characters)s."
            )
            % {"characters": ", ".join(wrong)},
        )
    return text
