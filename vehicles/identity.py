"""Countries, IINs and passport numbers of vehicles and drivers, written one way (pure)."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from carriers.validators import is_valid_iin_bin
from core.errors import ApplicationError
from vehicles.plates import fold

# ISO 3166-1 alpha-2: the officially assigned codes (registration countries, citizenships).
ISO_COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
    """.split()  # noqa: SIM905 (a grid of codes reads better than 249 quoted strings)
)

PASSPORT = re.compile(r"[A-Z0-9]{5,20}")


def _refuse(field: str, problem: str) -> ApplicationError:
    return ApplicationError("validation_error", problem, fields={field: [problem]})


def normalize_country(raw: str | None, *, field: str) -> str:
    """The code as stored: "kz " → "KZ". Anything that is not an assigned ISO 3166 two-letter
    code is refused."""
    code = fold(raw or "") if isinstance(raw, str) else ""
    if not code:
        raise _refuse(field, _("Enter the country as a two-letter code, like KZ."))
    if code not in ISO_COUNTRIES:
        raise _refuse(
            field,
            _("%(code)s is not a country code: write two letters, like KZ, RU, UZ or CN.")
            % {"code": code[:12]},
        )
    return code


def normalize_iin(raw: str | None) -> str | None:
    """An IIN of 12 digits with a valid check digit (A1); spaces allowed; empty means none."""
    text = re.sub(r"\s+", "", raw or "") if isinstance(raw, str) else ""
    if not text:
        return None
    if not is_valid_iin_bin(text):
        raise _refuse("iin", _("An IIN is 12 digits with a valid check digit."))
    return text


def normalize_passport_number(raw: str | None) -> str | None:
    """A passport number as written in the passport: spaces and dashes removed, upper case,
    Cyrillic look-alikes folded to Latin ("АА 1234567" → "AA1234567"); empty means none."""
    text = fold(raw or "") if isinstance(raw, str) else ""
    if not text:
        return None
    if not PASSPORT.fullmatch(text):
        raise _refuse(
            "passport_number",
            _("A passport number has 5 to 20 Latin letters and digits, like AA1234567."),
        )
    if not any(char.isdigit() for char in text):
        raise _refuse("passport_number", _("A passport number has digits in it."))
    return text
