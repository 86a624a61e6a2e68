"""B6, B7 under hostile input: whatever is typed as a plate or a VIN, the parsers either return
the one normalised form (which they return again unchanged) or refuse it with the project's
validation error, a field message in the person's language; never another exception."""

import pytest
from django.utils import translation
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.errors import ApplicationError
from vehicles.plates import (
    GENERAL_PLATE,
    KZ_PLATE,
    KZ_PLATE_REGIONS,
    VIN,
    normalize_plate,
    normalize_vin,
)

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None)

LATIN_LOOKALIKES = "ABEKMHOPCTXY"
CYRILLIC_FOR = {
    "A": "Аа", "B": "Вв", "E": "Ее", "K": "Кк", "M": "Мм", "H": "Нн", "O": "Оо", "P": "Рр",
    "C": "Сс", "T": "Тт", "X": "Хх", "Y": "УуҮү",
}  # fmt: skip
SEPARATORS = [" ", "-", ".", "\u00a0", "\u2013", "\u2212", "\t", "·"]
COUNTRIES = ["KZ", "kz", " KZ ", "RU", "KG", "UZ", "CN", "", "XX"]


def refusal_or_value(parse, *args):
    """The parser's answer in English and in Russian: ("ok", value) or ("refused", en, ru)."""
    answers = []
    for language in ("en", "ru"):
        with translation.override(language):
            try:
                answers.append(("ok", parse(*args)))
            except ApplicationError as error:
                answers.append(("refused", error))
    (kind_en, en), (kind_ru, ru) = answers
    assert kind_en == kind_ru, "the answer must not depend on the language"
    if kind_en == "ok":
        assert en == ru
        return "ok", en
    return "refused", en, ru


def assert_clean_refusal(field: str, en: ApplicationError, ru: ApplicationError) -> None:
    for error in (en, ru):
        assert error.code == "validation_error"
        assert error.status == 400
        assert isinstance(error.message, str) and error.message.strip()
        assert error.fields == {field: [error.message]}
    assert en.message != ru.message, f"not translated: {en.message!r}"


# --- strategies ------------------------------------------------------------------------------


def spelled(text: str):
    """`text` as people type it: any case, Cyrillic look-alikes, separators between characters."""

    def spell(draw_values):
        out = []
        for char, (cyrillic, lower, separator) in zip(text, draw_values, strict=True):
            if cyrillic and char in CYRILLIC_FOR:
                choices = CYRILLIC_FOR[char]
                char = choices[cyrillic % len(choices)]
            elif lower:
                char = char.lower()
            out.append(char + separator)
        return "".join(out)

    return st.lists(
        st.tuples(st.integers(0, 3), st.booleans(), st.sampled_from(["", "", "", *SEPARATORS])),
        min_size=len(text),
        max_size=len(text),
    ).map(spell)


kz_plates = st.builds(
    lambda number, letters, region: f"{number}{letters}{region}",
    st.text("0123456789", min_size=3, max_size=3),
    st.text(LATIN_LOOKALIKES + "DFGJLNQRSUVWZI", min_size=2, max_size=3),
    st.sampled_from([*sorted(KZ_PLATE_REGIONS), "00", "21", "99"]),
)
typed_kz_plates = kz_plates.flatmap(spelled)


def mutated(strategy):
    """A near-valid value with one character dropped, doubled, replaced or inserted."""

    def mutate(args):
        text, position, kind, char = args
        position = position % (len(text) + 1)
        if kind == 0:
            return text[:position] + text[position + 1 :]
        if kind == 1:
            return text[:position] + text[position : position + 1] * 2 + text[position + 1 :]
        if kind == 2:
            return text[:position] + char + text[position + 1 :]
        return text[:position] + char + text[position:]

    return st.tuples(strategy, st.integers(0, 40), st.integers(0, 3), st.characters()).map(mutate)


vins = st.text("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", min_size=17, max_size=17)
typed_vins = vins.flatmap(spelled)


# --- plates ----------------------------------------------------------------------------------


def check_plate(raw, country) -> None:
    answer = refusal_or_value(normalize_plate, raw, country)
    if answer[0] == "refused":
        assert_clean_refusal("plate", answer[1], answer[2])
        return
    plate = answer[1]
    if str(country).strip().upper() == "KZ":
        match = KZ_PLATE.fullmatch(plate)
        assert match is not None and match["region"] in KZ_PLATE_REGIONS
    else:
        assert GENERAL_PLATE.fullmatch(plate) and any(char.isdigit() for char in plate)
    assert plate.isascii()
    assert normalize_plate(plate, country) == plate


@FUZZ
@given(st.text(max_size=40), st.sampled_from(COUNTRIES))
@example("１２３ＡＢＣ０２", "KZ")
@example("123 АВС 02\u0000", "KZ")
@example("\U0001f69a", "KZ")
@example("ǅ1", "RU")
def test_b7_any_text_as_a_plate_is_a_plate_or_a_clean_refusal(raw, country):
    check_plate(raw, country)


@FUZZ
@given(typed_kz_plates)
def test_b7_kazakh_plates_typed_any_way_normalise_to_their_one_form(raw):
    check_plate(raw, "KZ")


@FUZZ
@given(mutated(typed_kz_plates), st.sampled_from(COUNTRIES))
def test_b7_near_valid_plates_are_a_plate_or_a_clean_refusal(raw, country):
    check_plate(raw, country)


@pytest.mark.parametrize("raw", [None, 123, 1.5, b"123ABC02", ["123ABC02"], {"plate": 1}])
def test_b7_a_plate_that_is_not_text_is_a_clean_refusal(raw):
    answer = refusal_or_value(normalize_plate, raw, "KZ")
    assert answer[0] == "refused"
    assert_clean_refusal("plate", answer[1], answer[2])


# --- VINs ------------------------------------------------------------------------------------


def check_vin(raw) -> None:
    answer = refusal_or_value(normalize_vin, raw)
    if answer[0] == "refused":
        assert_clean_refusal("vin", answer[1], answer[2])
        return
    vin = answer[1]
    assert VIN.fullmatch(vin) and vin.isascii()
    assert normalize_vin(vin) == vin


@FUZZ
@given(st.text(max_size=60))
@example("ＸＴＡ２１０９９０１２３４５６７８")
@example("XTA21099O12345678")
@example("xta-2109 9012 3456 78")
@example("XTA2109901234567\u0301")
def test_b6_any_text_as_a_vin_is_a_vin_or_a_clean_refusal(raw):
    check_vin(raw)


@FUZZ
@given(typed_vins)
def test_b6_vins_typed_any_way_normalise_to_their_one_form(raw):
    answer = refusal_or_value(normalize_vin, raw)
    assert answer[0] == "ok", raw
    assert VIN.fullmatch(answer[1])


@FUZZ
@given(mutated(typed_vins))
def test_b6_near_valid_vins_are_a_vin_or_a_clean_refusal(raw):
    check_vin(raw)


@pytest.mark.parametrize("raw", [None, 17, b"XTA21099012345678", ["XTA21099012345678"]])
def test_b6_a_vin_that_is_not_text_is_a_clean_refusal(raw):
    answer = refusal_or_value(normalize_vin, raw)
    assert answer[0] == "refused"
    assert_clean_refusal("vin", answer[1], answer[2])
