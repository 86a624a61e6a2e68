"""CSV files a spreadsheet opens without running anything in them (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets run a cell as a formula when its text starts with `=`, `+`,
`-` or `@`, and a tab or a carriage return in front does not stop them. A carrier named
`=HYPERLINK("http://evil","x")` or a payer text `-2+3+cmd|' /C calc'!A0` would then act in the
registrar's or the carrier's spreadsheet. So every CSV the portal writes goes through `writer` or
`DictWriter` here, drop-in for the `csv` ones, which pass each cell through `spreadsheet_cell`:

- a text (str) cell starting with one of `FORMULA_STARTS` gets a single quote in front
  (`'=HYPERLINK(…)`), the usual neutralisation: spreadsheets show it as text, and a person
  reading the file sees where it came from;
- except a text cell that is a plain decimal number, such as `-150.00` or `+5`: the amounts are
  written as text with 2 decimals, a spreadsheet reads them as numbers, not formulas, and a
  negative amount must stay a number to be summed. Only an optional sign, ASCII digits and an
  optional fraction count as plain: `-1+1`, `-1e3`, `-cmd` or `- 5` are neutralised;
- any other value (numbers, dates, None) is written as the `csv` module writes it.
"""

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def spreadsheet_cell(value: Any) -> Any:
    """`value` as a cell no spreadsheet runs as a formula (the rule is in the module docstring)."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_STARTS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class _Writer:
    """A `csv.writer` whose cells pass through `spreadsheet_cell`."""

    def __init__(self, file, **options):
        self._writer = csv.writer(file, **options)

    @property
    def dialect(self):
        return self._writer.dialect

    def writerow(self, row: Iterable[Any]):
        return self._writer.writerow([spreadsheet_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(file, **options) -> _Writer:
    """Like `csv.writer(file, **options)`, with no cell a spreadsheet would run as a formula."""
    return _Writer(file, **options)


class DictWriter(csv.DictWriter):
    """Like `csv.DictWriter`, with no cell a spreadsheet would run as a formula."""

    def writerow(self, rowdict: Mapping[str, Any]):
        return super().writerow({key: spreadsheet_cell(cell) for key, cell in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)
