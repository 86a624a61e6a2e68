"""A1 under hostile input: any text offered as an IIN or BIN is either 12 ASCII digits whose
check digit is right or a clean refusal in the person's language; never another exception."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carriers.validators import iin_bin_check_digit, is_valid_iin_bin, validate_iin_bin
from core.errors import ApplicationError
from vehicles.identity import normalize_iin

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None)

eleven_digits = st.text("0123456789", min_size=11, max_size=11)


@st.composite
def valid_numbers(draw) -> str:
    first = draw(eleven_digits.filter(lambda digits: iin_bin_check_digit(digits) is not None))
    return first + str(iin_bin_check_digit(first))


def is_well_formed(value: str) -> bool:
    return len(value) == 12 and value.isascii() and value.isdigit()


def django_answer(value: str):
    answers = []
    for language in ("en", "ru"):
        with translation.override(language):
            try:
                validate_iin_bin(value)
                answers.append(None)
            except ValidationError as error:
                assert error.code == "invalid_iin_bin"
                answers.append(str(error.messages[0]))
    return answers


@FUZZ
@given(st.text(max_size=30))
@example("２３０１４００１２３４０")  # full-width digits
@example("٢٣٠١٤٠٠١٢٣٤٠")  # Arabic-Indic digits
@example("23014001234０")
@example("")
def test_a1_any_text_is_a_valid_iin_bin_or_a_clean_refusal(value):
    valid = is_valid_iin_bin(value)
    en, ru = django_answer(value)
    if valid:
        assert is_well_formed(value)
        assert iin_bin_check_digit(value[:11]) == int(value[11])
        assert en is None and ru is None
    else:
        assert en and ru and en != ru


@FUZZ
@given(valid_numbers())
def test_a1_numbers_with_their_check_digit_pass(number):
    assert is_valid_iin_bin(number)
    validate_iin_bin(number)
    assert normalize_iin(f" {number[:6]} {number[6:]} ") == number


@FUZZ
@given(valid_numbers(), st.integers(1, 9))
def test_a1_a_wrong_check_digit_is_refused(number, shift):
    wrong = number[:11] + str((int(number[11]) + shift) % 10)
    assert not is_valid_iin_bin(wrong)
    with pytest.raises(ValidationError):
        validate_iin_bin(wrong)


def normalize_iin_answer(value):
    answers = []
    for language in ("en", "ru"):
        with translation.override(language):
            try:
                answers.append(("ok", normalize_iin(value)))
            except ApplicationError as error:
                answers.append(("refused", error))
    return answers


@FUZZ
@given(st.one_of(st.text(max_size=30), valid_numbers().map(lambda n: n[:4] + " \t" + n[4:])))
@example(None)
@example(123456789012)
def test_a1_driver_iin_is_an_iin_none_or_a_clean_refusal(value):
    (kind_en, en), (kind_ru, ru) = normalize_iin_answer(value)
    assert kind_en == kind_ru
    if kind_en == "ok":
        assert en == ru
        assert en is None or (is_well_formed(en) and is_valid_iin_bin(en))
        return
    for error in (en, ru):
        assert error.code == "validation_error"
        assert error.fields == {"iin": [error.message]}
    assert en.message != ru.message
