"""Every CSV the portal writes goes through core.csv_safe: a text cell a spreadsheet would run as
a formula (starting with =, +, -, @, a tab or a carriage return) gets a single quote in front;
plain numbers, negative amounts among them, stay numbers (OWASP "CSV injection")."""

import csv
import io
from decimal import Decimal

import pytest

from core import csv_safe
from core.csv_safe import spreadsheet_cell

FORMULAS = [
    '=HYPERLINK("http://x","y")',
    "=1+1",
    "+1+1",
    "@SUM(A1)",
    "-2+3",
    "-cmd",
    "-1e3",
    "- 5",
    "-",
    "+",
    "-150.00\n",
    "-١٥٠",  # digits, but not ASCII ones: not a plain number to a spreadsheet
    "\tcmd",
    "\rcmd",
    "\t=1+1",
    "-2+3+cmd|' /C calc'!A0",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_text_cell_a_spreadsheet_would_run_gets_a_quote_in_front(text):
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize(
    "cell",
    [
        "-150.00",
        "+150.00",
        "-4325",
        "8650.00",
        "0",
        "Steppe Logistics LLP",
        "ТОО «Керуен» — KZK000001239",
        "PO-20260320-FEES-1",
        "2026-03-20T10:00:00+05:00",
        "a=1+1",
        "'=1+1",
        "",
    ],
)
def test_plain_numbers_and_other_texts_stay_as_they_are(cell):
    assert spreadsheet_cell(cell) == cell


@pytest.mark.parametrize("cell", [Decimal("-150.00"), -150, 8650, Decimal("0.00"), None, 1.5])
def test_values_that_are_not_text_are_left_to_the_csv_module(cell):
    assert spreadsheet_cell(cell) is cell


def test_the_writers_neutralise_every_cell_and_keep_the_rest_of_the_file():
    out = io.StringIO()
    writer = csv_safe.writer(out)
    writer.writerow(["=1+1", Decimal("-150.00"), "-150.00", "Steppe, LLP", None])
    writer.writerows([["@SUM(A1)", "\tcmd"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["'=1+1", "-150.00", "-150.00", "Steppe, LLP", ""],
        ["'@SUM(A1)", "'\tcmd"],
    ]

    out = io.StringIO()
    writer = csv_safe.DictWriter(out, fieldnames=["name", "amount"])
    writer.writeheader()
    writer.writerow({"name": '=HYPERLINK("http://x","y")', "amount": "-150.00"})
    writer.writerows([{"name": "\rcmd", "amount": -150}, {"name": "Keruen"}])
    assert list(csv.DictReader(io.StringIO(out.getvalue()))) == [
        {"name": '\'=HYPERLINK("http://x","y")', "amount": "-150.00"},
        {"name": "'\rcmd", "amount": "-150"},
        {"name": "Keruen", "amount": ""},
    ]
