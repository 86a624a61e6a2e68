"""B7 plate normalisation and VINs (ISO 3779): pure functions, no database."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ApplicationError
from vehicles.plates import (
    KZ_PLATE_REGIONS,
    format_plate,
    mask_plate,
    normalize_plate,
    normalize_vin,
)


def plate_problem(raw, country="KZ") -> str:
    with pytest.raises(ApplicationError) as refusal:
        normalize_plate(raw, country)
    assert refusal.value.code == "validation_error"
    assert list(refusal.value.fields) == ["plate"]
    return refusal.value.fields["plate"][0]


def vin_problem(raw) -> str:
    with pytest.raises(ApplicationError) as refusal:
        normalize_vin(raw)
    assert refusal.value.code == "validation_error"
    assert list(refusal.value.fields) == ["vin"]
    return refusal.value.fields["vin"][0]


@pytest.mark.parametrize(
    "raw",
    [
        "123ABC02",
        "123 ABC 02",
        "123abc02",
        "123-ABC-02",
        "123.ABC.02",
        " 123  ABC\t02 ",
        "123 АВС 02",  # Cyrillic А, В, С
        "123 авс 02",  # lower-case Cyrillic
        "１２３ ＡＢＣ ０２",  # full-width, as some keyboards type
    ],
)
def test_b7_kazakh_plate_3_3_2_in_any_spelling_is_one_plate(raw):
    assert normalize_plate(raw, "KZ") == "123ABC02"


def test_b7_kazakh_plate_3_2_2_and_lower_case_country():
    assert normalize_plate("777 КМ 17", "kz") == "777KM17"


def test_b7_every_cyrillic_lookalike_folds_to_latin():
    cyrillic = "АВЕКМНОРСТХУ"
    latin = "ABEKMHOPCTXY"
    for start in range(0, len(cyrillic), 6):
        upper, lower = cyrillic[start : start + 6], cyrillic[start : start + 6].lower()
        expected = f"1{latin[start : start + 6]}2"
        assert normalize_plate(f"1{upper}2", "RU") == expected
        assert normalize_plate(f"1{lower}2", "RU") == expected


@pytest.mark.parametrize(
    ("region", "ok"), [("00", False), ("01", True), ("20", True), ("21", False)]
)
def test_b7_kazakh_region_codes_are_01_to_20(region, ok):
    if ok:
        assert normalize_plate(f"123 ABC {region}", "KZ") == f"123ABC{region}"
    else:
        problem = plate_problem(f"123 ABC {region}")
        assert f"region {region}" in problem and "01 to 20" in problem


def test_b7_the_regions_are_those_of_the_reference_data():
    data = json.loads(
        (Path(settings.BASE_DIR) / "checkpoints/data/checkpoints.json").read_text("utf-8")
    )
    assert set(data["plate_regions_kz"]) == KZ_PLATE_REGIONS


@pytest.mark.parametrize(
    "raw", ["12 ABC 02", "1234 ABC 02", "123 A 02", "123 ABCD 02", "123 ABC 2", "A 123 BC 02"]
)
def test_b7_kazakh_plates_outside_the_formats_are_refused_with_the_format(raw):
    assert "like 123 ABC 02 or 123 AB 02" in plate_problem(raw)


def test_b7_letters_without_a_latin_lookalike_are_named():
    problem = plate_problem("123 ЖДБ 02")
    assert "“Ж”, “Д”, “Б”" in problem


def test_b7_empty_plate_is_refused():
    assert plate_problem("  - ") == "Enter the plate number."
    assert plate_problem(None) == "Enter the plate number."


@pytest.mark.parametrize(
    ("raw", "country", "normal"),
    [
        ("А 123 ВС 77", "RU", "A123BC77"),  # Russian, typed in Cyrillic
        ("01 A 123 BC", "UZ", "01A123BC"),
        ("B 1234 ABC", "KG", "B1234ABC"),
        ("京A·12345", "CN", None),  # the Chinese province character is not Latin
        ("HH-AB 1234", "DE", "HHAB1234"),
    ],
)
def test_b7_foreign_plates_in_the_general_form(raw, country, normal):
    if normal is None:
        assert "“京”" in plate_problem(raw, country)
    else:
        assert normalize_plate(raw, country) == normal


def test_b7_foreign_plates_need_2_to_12_characters_and_a_digit():
    assert "this one has 1" in plate_problem("7", "RU")
    assert "this one has 13" in plate_problem("1234567890ABC", "RU")
    assert plate_problem("ABCD", "DE") == "A plate has at least one digit."


def test_b7_a_kazakh_shape_is_not_required_of_other_countries():
    assert normalize_plate("123ABC99", "RU") == "123ABC99"


def test_plates_are_formatted_for_people():
    assert format_plate("123ABC02", "KZ") == "123 ABC 02"
    assert format_plate("123AB02", "KZ") == "123 AB 02"
    assert format_plate("A123BC77", "RU") == "A123BC77"
    assert format_plate("not-normal", "KZ") == "not-normal"


def test_q4_plates_are_masked_for_public_boards():
    assert mask_plate("123ABC02") == "1** **C 02"
    assert mask_plate("123AB02") == "1** *B 02"
    assert mask_plate("A123BC77") == "A*****77"
    assert mask_plate("AB12") == "***2"
    assert mask_plate("") == ""


def test_vin_is_upper_cased_and_separators_removed():
    assert normalize_vin(" wdb 9634031-L123456 ") == "WDB9634031L123456"


def test_vin_cyrillic_lookalikes_are_folded():
    assert normalize_vin("ХТА21099043123456") == "XTA21099043123456"  # Cyrillic Х, Т, А


@pytest.mark.parametrize(("raw", "count"), [("WDB96340", 8), ("WDB9634031L1234567", 18)])
def test_vin_has_17_characters(raw, count):
    assert vin_problem(raw) == f"A VIN has 17 characters; this one has {count}."


@pytest.mark.parametrize(("letter", "position"), [("I", 4), ("O", 9), ("Q", 17)])
def test_vin_never_has_i_o_or_q(letter, position):
    vin = list("WDB9634031L123456")
    vin[position - 1] = letter
    problem = vin_problem("".join(vin))
    assert f"“{letter}” ({position})" in problem and "I, O or Q" in problem


def test_vin_cyrillic_o_is_refused_like_latin_o():
    assert "“O” (9)" in vin_problem("WDB96340О1L123456")  # Cyrillic О


def test_vin_other_characters_are_named():
    assert "“Ж”" in vin_problem("ЖDB9634031L123456")
    assert vin_problem("") == "Enter the VIN."


def test_vin_check_digit_is_not_enforced():
    # 1M8GDM9AXKP042788 is the ISO 3779 textbook VIN with a valid check digit (X); a European
    # VIN with any character in position 9 is accepted all the same.
    assert normalize_vin("1M8GDM9AXKP042788") == "1M8GDM9AXKP042788"
    assert normalize_vin("1M8GDM9A1KP042788") == "1M8GDM9A1KP042788"


COUNTRIES = st.sampled_from(["KZ", "RU", "UZ", "CN", "kz", "", "XX"])
PLATE_LIKE = st.text(
    alphabet=st.sampled_from(list("0123456789ABCXYZabcАВСКМНОРТХУавскмЖж -.·\t１")), max_size=14
)


@given(raw=st.one_of(st.text(max_size=30), PLATE_LIKE), country=COUNTRIES)
def test_b7_normalize_plate_only_ever_refuses_and_is_idempotent(raw, country):
    try:
        normal = normalize_plate(raw, country)
    except ApplicationError as refusal:
        assert refusal.fields["plate"]
        return
    assert normalize_plate(normal, country) == normal
    assert normalize_plate(format_plate(normal, country), country) == normal
    assert normal.isascii() and normal.isalnum() and normal == normal.upper()


@given(st.from_regex(r"[0-9]{3} ?[A-Z]{2,3} ?(0[1-9]|1[0-9]|20)", fullmatch=True))
def test_b7_every_well_formed_kazakh_plate_is_accepted(raw):
    normal = normalize_plate(raw, "KZ")
    assert normal == raw.replace(" ", "")
    assert mask_plate(normal).endswith(normal[-2:])


@given(st.one_of(st.text(max_size=30), st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ")))
def test_vin_normalize_only_ever_refuses_and_is_idempotent(raw):
    try:
        normal = normalize_vin(raw)
    except ApplicationError as refusal:
        assert refusal.fields["vin"]
        return
    assert normalize_vin(normal) == normal
    assert len(normal) == 17 and not set(normal) & set("IOQ")
