"""P3 under hostile input: any text offered as a refund IBAN is either a compact ASCII IBAN whose
mod-97 check holds or a clean refusal in the person's language; never another exception."""

import string

from django.utils import translation
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from deposits.iban import LENGTHS, normalize_iban

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None)
ALPHANUMERIC = string.ascii_uppercase + string.digits


def mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97


def with_check_digits(country: str, bban: str) -> str:
    check = 98 - mod97(f"{country}00{bban}")
    return f"{country}{check:02d}{bban}"


@st.composite
def valid_ibans(draw) -> str:
    country = draw(st.sampled_from(sorted(LENGTHS)))
    bban = draw(st.text(ALPHANUMERIC, min_size=LENGTHS[country] - 4, max_size=LENGTHS[country] - 4))
    return with_check_digits(country, bban)


def typed(iban: str, lower: list[bool], spaces: list[str]) -> str:
    return "".join(
        (char.lower() if low else char) + space
        for char, low, space in zip(iban, lower, spaces, strict=False)
    )


typed_ibans = valid_ibans().flatmap(
    lambda iban: st.tuples(
        st.just(iban),
        st.lists(st.booleans(), min_size=len(iban), max_size=len(iban)),
        st.lists(
            st.sampled_from(["", "", "", " ", "-", "\u00a0"]),
            min_size=len(iban),
            max_size=len(iban),
        ),
    )
)


def answers(raw):
    result = []
    for language in ("en", "ru"):
        with translation.override(language):
            try:
                result.append(("ok", normalize_iban(raw)))
            except ApplicationError as error:
                result.append(("refused", error))
    return result


def assert_iban_or_clean_refusal(raw):
    (kind_en, en), (kind_ru, ru) = answers(raw)
    assert kind_en == kind_ru
    if kind_en == "ok":
        assert en == ru
        assert en.isascii() and en.isalnum() and en == en.upper()
        assert en[:2].isalpha() and en[2:4].isdigit()
        assert mod97(en) == 1
        assert len(en) == LENGTHS.get(en[:2], len(en))
        assert normalize_iban(en) == en
        return en
    for error in (en, ru):
        assert error.code == "validation_error"
        assert error.status == 400
        assert error.fields == {"iban": [error.message]}
    assert en.message != ru.message
    return None


@FUZZ
@given(st.text(max_size=50))
@example("KZ٨٦125KZT5004100100")  # Arabic-Indic check digits
@example("KZ86125KZT５004100100")  # a full-width digit
@example("ＫＺ86125KZT5004100100")
@example("kz86 125k zt50 0410 0100")
@example("")
def test_p3_any_text_is_an_iban_or_a_clean_refusal(raw):
    assert_iban_or_clean_refusal(raw)


def test_p3_an_iban_with_digits_of_another_script_is_refused():
    (kind, error), _ = answers("KZ٨٦125KZT5004100100")
    assert kind == "refused"
    assert error.fields == {"iban": [error.message]}


@FUZZ
@given(typed_ibans)
def test_p3_valid_ibans_typed_any_way_normalise_to_their_compact_form(args):
    iban, lower, spaces = args
    assert assert_iban_or_clean_refusal(typed(iban, lower, spaces)) == iban


@FUZZ
@given(valid_ibans(), st.integers(4, 40), st.integers(1, 35))
def test_p3_one_mistyped_character_is_refused(iban, position, shift):
    position = 4 + position % (len(iban) - 4)
    char = iban[position]
    alphabet = string.digits if char.isdigit() else string.ascii_uppercase
    wrong = alphabet[(alphabet.index(char) + shift % (len(alphabet) - 1) + 1) % len(alphabet)]
    mistyped = iban[:position] + wrong + iban[position + 1 :]
    assert assert_iban_or_clean_refusal(mistyped) is None
