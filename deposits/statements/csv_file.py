"""CSV statements: the registrar's bank's export, with the columns named in the header."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.utils.translation import gettext as _

from deposits.statements.common import (
    _CSV_AMOUNT,
    _CURRENCY,
    _DATE,
    _DOTTED,
    CSV_DIRECTIONS,
    CSV_OPTIONAL_COLUMNS,
    CSV_REQUIRED_COLUMNS,
    KZT,
    Statement,
    StatementLine,
    _amount,
    _clean,
    _Collector,
    _iban,
    _invalid,
    _out_of_years,
    _parse_date,
    _parse_datetime,
    _Place,
    _positive,
    _raw,
    _short,
    _years_message,
)

# ---------------------------------------------------------------------------------------------
# CSV


class _CsvReader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def _text(self) -> str:
        try:
            text = self.data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _invalid(
                _(
                    "The file is neither camt.053 XML nor a UTF-8 CSV (byte %(position)s is not "
                    "UTF-8). Save the CSV in UTF-8."
                )
                % {"position": exc.start + 1}
            ) from exc
        if "\x00" in text:
            raise _invalid(
                _("The file is neither camt.053 XML nor a CSV statement: it holds binary data.")
            )
        return text

    @staticmethod
    def _comments(text: str) -> tuple[dict[str, str], int, str]:
        """The "# key: value" lines before the header, how many lines they took, the rest."""
        meta: dict[str, str] = {}
        position = 0
        lines = 0
        while position < len(text):
            end = text.find("\n", position)
            end = len(text) if end == -1 else end + 1
            line = text[position:end].strip()
            if line and not line.startswith("#"):
                break
            key, colon, value = line.lstrip("#").partition(":")
            key = key.strip().lower()
            if colon and key and key not in meta:
                meta[key] = value.strip()
            position = end
            lines += 1
        return meta, lines, text[position:]

    @staticmethod
    def _column(name: str) -> str:
        return "_".join(name.strip().lower().replace("-", " ").split())

    def read(self) -> Statement:
        meta, comment_lines, body = self._comments(self._text())
        header_line = body.split("\n", 1)[0]
        delimiter = ";" if ";" in header_line else ","
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter, strict=True)
        try:
            header = next(reader, [])
            columns = [self._column(name) for name in header]
            self._check_header(columns)
            account = _iban(meta.get("account", ""))
            if not account:
                raise _invalid(
                    _(
                        "The CSV does not say which account it is for: its first line must be "
                        "“# account: KZ…” with the account's IBAN."
                    )
                )
            currency = (meta.get("currency") or KZT).upper()
            if not _CURRENCY.fullmatch(currency):
                raise _invalid(
                    _("The CSV's currency %(value)s is not a 3-letter code like KZT.")
                    % {"value": _short(currency)}
                )
            created_text = meta.get("created", "")
            created_at = _parse_datetime(created_text) if created_text else None
            if created_text and created_at is None:
                raise _invalid(
                    _(
                        "The CSV's creation time %(value)s is not a date and time like "
                        "2024-05-01T09:30:00+05:00."
                    )
                    % {"value": _short(created_text)}
                )
            if _out_of_years(created_at):
                raise _invalid(_years_message(_("The CSV's creation time"), _short(created_text)))
            collector = _Collector()
            for row in reader:
                place = _Place(csv_line=comment_lines + reader.line_num)
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) != len(columns):
                    raise place.error(
                        _("%(where)s has %(found)s fields, but the header has %(expected)s.")
                        % {"where": place, "found": len(row), "expected": len(columns)}
                    )
                values = {name: cell.strip() for name, cell in zip(columns, row, strict=True)}
                self._row(values, currency, place, collector)
        except csv.Error as exc:
            raise _invalid(
                _("The CSV could not be read at line %(line)s: %(detail)s")
                % {"line": comment_lines + reader.line_num, "detail": _short(str(exc))},
                line=comment_lines + reader.line_num,
            ) from exc
        return Statement(
            format="csv",
            account_iban=account,
            currency=currency,
            statement_id=_short(meta.get("statement", "")),
            created_at=created_at,
            lines=collector.lines,
            skipped=collector.skipped,
        )

    @staticmethod
    def _check_header(columns: list[str]) -> None:
        known = set(CSV_REQUIRED_COLUMNS) | set(CSV_OPTIONAL_COLUMNS)
        expected = ", ".join(CSV_REQUIRED_COLUMNS + CSV_OPTIONAL_COLUMNS)
        if not known & set(columns):
            raise _invalid(
                _(
                    "The file is neither camt.053 XML nor a CSV statement: the CSV's header row "
                    "must name its columns (%(columns)s)."
                )
                % {"columns": expected}
            )
        missing = [name for name in CSV_REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise _invalid(
                _("The CSV's header lacks the columns %(missing)s (expected: %(columns)s).")
                % {"missing": ", ".join(missing), "columns": expected}
            )
        for name in known:
            if columns.count(name) > 1:
                raise _invalid(
                    _("The CSV's header names the column %(column)s twice.") % {"column": name}
                )

    def _row(self, values: dict[str, str], default_currency: str, place, collector) -> None:
        reference = values["reference"]
        if not reference:
            raise place.error(_("%(where)s: the reference is empty.") % {"where": place})
        amount = _amount(values["amount"], place, _CSV_AMOUNT)
        currency = (values.get("currency") or default_currency).upper()
        if not _CURRENCY.fullmatch(currency):
            raise place.error(
                _("%(where)s: the currency %(value)s is not a 3-letter code like KZT.")
                % {"where": place, "value": _short(currency)}
            )
        direction_text = values.get("direction", "")
        direction = CSV_DIRECTIONS.get(direction_text.upper() or "CRDT")
        if direction is None:
            raise place.error(
                _("%(where)s: the direction %(value)s is neither CRDT nor DBIT.")
                % {"where": place, "value": _short(direction_text)}
            )
        booked_at = self._booked_at(values["booked_at"], place)
        remittance = _clean(values["remittance"])
        raw = _raw(line=place.csv_line, **values)

        if direction == "DBIT":
            collector.skip(
                "debit",
                _("A debit: money going out of the account."),
                reference,
                amount,
                currency,
                raw,
            )
            return
        if currency != KZT:
            collector.skip(
                "currency",
                _("In %(currency)s, not in tenge.") % {"currency": currency},
                reference,
                amount,
                currency,
                raw,
            )
            return
        _positive(amount, place)
        line = StatementLine(
            bank_reference=reference,
            amount=amount,
            currency=currency,
            booked_at=booked_at,
            remittance=remittance,
            payer_name=_short(_clean(values.get("payer_name", ""))),
            payer_iban=_short(_iban(values.get("payer_iban", ""))),
            payer_bin=_short(_clean(values.get("payer_bin", ""))),
            raw=raw,
        )
        collector.add(line, place)

    @staticmethod
    def _booked_at(value: str, place: _Place) -> dt.date | dt.datetime:
        result: dt.date | dt.datetime | None = None
        dotted = _DOTTED.fullmatch(value)
        if dotted is not None:
            iso = f"{dotted.group('year')}-{dotted.group('month')}-{dotted.group('day')}"
            if dotted.group("time"):
                result = _parse_datetime(f"{iso}T{dotted.group('time')}")
            else:
                result = _parse_date(iso)
        elif _DATE.fullmatch(value):
            result = _parse_date(value)
        else:
            result = _parse_datetime(value)
        if result is None:
            raise place.error(
                _("%(where)s: the date %(value)s is not a date like 2024-05-01 or 01.05.2024.")
                % {"where": place, "value": _short(value) or _("(none)")}
            )
        if _out_of_years(result):
            raise place.error(_years_message(place, _short(value)))
        return result
