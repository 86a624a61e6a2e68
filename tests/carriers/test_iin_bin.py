import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from carriers.validators import (
    first_valid_iin_bin_from,
    iin_bin_check_digit,
    is_valid_iin_bin,
    validate_iin_bin,
)

# 230140012340: first pass Σ d·(1..11) = 66, 66 mod 11 = 0.
# 850512300119: first pass 97 mod 11 = 9.
# 377835337400: first pass gives 10, second pass (weights 3..11,1,2) gives 0.
VALID = ["230140012340", "850512300119", "377835337400"]


def _first_pass(first_eleven: str) -> int:
    return sum(int(d) * w for d, w in zip(first_eleven, range(1, 12), strict=True)) % 11


@pytest.mark.parametrize("number", VALID)
def test_a1_valid_iin_bin_passes(number):
    assert is_valid_iin_bin(number)
    validate_iin_bin(number)


def test_a1_check_digit_by_the_published_algorithm():
    # First pass: Σ d·i for i = 1..11, mod 11.
    digits = [2, 3, 0, 1, 4, 0, 0, 1, 2, 3, 4]
    assert sum(d * w for d, w in zip(digits, range(1, 12), strict=True)) % 11 == 0
    assert iin_bin_check_digit("23014001234") == 0


def test_a1_second_pass_when_the_first_gives_ten():
    assert _first_pass("37783533740") == 10
    second = sum(
        int(d) * w for d, w in zip("37783533740", (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2), strict=True)
    )
    assert iin_bin_check_digit("37783533740") == second % 11 == 0


def test_a1_numbers_where_both_passes_give_ten_are_never_valid():
    assert iin_bin_check_digit("06870986119") is None
    assert not any(is_valid_iin_bin("06870986119" + digit) for digit in "0123456789")


@pytest.mark.parametrize("number", VALID)
def test_a1_a_mutated_check_digit_is_refused(number):
    for digit in "0123456789":
        if digit != number[11]:
            assert not is_valid_iin_bin(number[:11] + digit)


@pytest.mark.parametrize("number", VALID[:2])
@pytest.mark.parametrize("position", range(10))
def test_a1_a_mutated_digit_is_refused(number, position):
    # Weights 1..10 are non-zero mod 11, so a changed digit changes the first-pass residue; only
    # a change that lands on 10 (second pass) may, by chance, collide. Position 11 has weight 11
    # ≡ 0 in the first pass, a known blind spot of the published algorithm.
    for replacement in "0123456789":
        mutated = number[:position] + replacement + number[position + 1 :]
        if replacement != number[position] and _first_pass(mutated[:11]) != 10:
            assert not is_valid_iin_bin(mutated), mutated


@pytest.mark.parametrize(
    "number",
    [
        "",
        "12345678901",
        "1234567890123",
        "23014001234a",
        "２３０１４００１２３４０",
        " 230140012340",
    ],
)
def test_a1_wrong_length_or_characters_are_refused(number):
    assert not is_valid_iin_bin(number)
    with pytest.raises(ValidationError):
        validate_iin_bin(number)


@given(st.text(max_size=20))
def test_a1_any_text_gives_a_clean_answer(text):
    assert is_valid_iin_bin(text) in (True, False)


def test_a1_first_valid_number_from_a_start_is_valid_and_the_nearest():
    for start in (10_000_000_000, 20_000_000_007, 85_051_230_011):
        number = first_valid_iin_bin_from(start)
        assert is_valid_iin_bin(number)
        assert int(number[:11]) >= start
        # Nothing valid was skipped between the start and the number found.
        assert all(
            iin_bin_check_digit(f"{first:011d}") is None for first in range(start, int(number[:11]))
        )
