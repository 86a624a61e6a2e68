"""Bank statements of the registrar's account, read into plain values (P1).

`parse_statement(data)` reads one statement file, ISO 20022 camt.053 XML or the bank's CSV, told
apart by its content (the name only sharpens the message for a broken file). It returns a
`Statement`: the account it is for, the booked credits in tenge (`lines`) and every other entry
with the reason it is not a payment to credit (`skipped`). It touches no database. The importer
compares `account_iban` with REGISTRAR_IBAN, makes the import idempotent with `bank_reference`,
and finds the personal account with `find_account_numbers(line.remittance)`: exactly one number
means that account, none or several mean the line is parked for an operator.

A file that cannot be read safely raises `ApplicationError("statement_invalid", status=400)`.
Its message says where (the entry or CSV line, with the line of the file) and what is wrong;
`fields` is `{"file": [message], "where": {"entry"|"line"|"transaction"|...}}`. Nothing of such a
file should be imported.

camt.053 (XML)
--------------
* Versions 001.02 to 001.08, namespace `urn:iso:std:iso:20022:tech:xsd:camt.053.001.0N`; root
  `Document/BkToCstmrStmt` with one or more `Stmt`, all of one account (`Acct/Id/IBAN`, else
  `Acct/Id/Othr/Id`; spaces removed, upper case). Other camt messages (052, 054), later versions
  and other XML are refused.
* An entry (`Ntry`) is a line when it is booked (`<Sts>BOOK</Sts>` up to .07, `<Sts><Cd>BOOK</Cd>
  </Sts>` in .08; either form is read in any version), a credit (`CdtDbtInd` CRDT), not a reversal
  (`RvslInd` true) and in KZT. Every other entry is skipped with its reason (`SkippedLine`).
* Amounts: `Amt` with a `Ccy` attribute; digits with an optional "." and at most 2 decimals
  (tenge and tiyn), at most 12 before the point (what the ledger holds); never negative (the
  direction is `CdtDbtInd`); a credit is more than zero.
  `StatementLine.amount` is the file's value as a Decimal with 2 places (no rounding happens).
* `bank_reference`: the entry's `AcctSvcrRef`, else `NtryRef` (else, for an entry with one
  transaction, that transaction's `Refs/AcctSvcrRef`); at most 80 characters.
  An entry with several `NtryDtls/TxDtls` (a batch) gives one line per transaction, its amount
  `TxDtls/Amt`, else `AmtDtls/TxAmt/Amt`; they must add up to the entry's amount, else the file
  is refused. Their reference is "<entry reference>/<transaction reference>", the transaction
  reference being its `Refs/AcctSvcrRef`, else `EndToEndId` (unless NOTPROVIDED), else `TxId`,
  else "#<its position in the entry>" (also used when two transactions of the entry share one).
  The same reference twice in a file for the same payment is counted once (the second is skipped
  as "duplicate"); for different payments the file is refused.
* `booked_at`: `BookgDt`, else `ValDt`; a date (`Dt`) or an aware datetime (`DtTm`; a time with
  no offset is Almaty time), in the years 2000 to 2099 (as is the creation time): other years
  are typos.
* `remittance`: the texts of `RmtInf/Ustrd` joined by spaces (a number that the bank split across
  two `Ustrd` is found again), then `RmtInf/Strd/CdtrRefInf/Ref`.
* Payer: `RltdPties/Dbtr/Nm` (`Dbtr/Pty/Nm` in .08), `RltdPties/DbtrAcct/Id/IBAN`, and as
  `payer_bin` the BIN `Dbtr/Id/OrgId/Othr/Id` or, for a person, the IIN `Dbtr/Id/PrvtId/Othr/Id`.
* Safety: a file holding `<!DOCTYPE` or `<!ENTITY` (in ASCII-compatible, UTF-16 or UTF-32 text) is
  refused before it is parsed, so neither external entities (XXE) nor nested ones (billion laughs)
  are ever expanded; lxml then parses with entities left unresolved, no network, no DTD loading
  and its default limits on depth and text size (no `huge_tree`), and a DTD it still finds is
  refused too.
  Files over `max_bytes` (20 MiB unless passed) are refused unread; callers reading an upload
  should read at most `max_bytes + 1` bytes.

CSV (the registrar's bank export)
---------------------------------
UTF-8, with or without a byte order mark. The file says which account it is for on a comment line
before the header; more comment lines may set the currency, an id and the creation time::

    # account: KZ86125KZT5004100100
    # statement: 2024-05-01/17
    reference;booked_at;amount;currency;payer_name;payer_iban;remittance
    KZB2405010001;01.05.2024;150 000,00;KZT;ТОО «Керуен»;KZ...;Пополнение счёта KZK123456782

* Comment lines start with "#" and come before the header; "# key: value" with the keys
  `account` (required), `currency` (default KZT), `statement` and `created` (ISO 8601) is read.
* Separator: ";" when the header row holds one, else ",". Fields may be quoted with '"'.
* Columns, in any order, names case-insensitive: `reference`, `booked_at`, `amount`, `remittance`
  are required; `currency` (default: the statement's), `payer_name`, `payer_iban`, `payer_bin` and
  `direction` (CRDT, the default, or DBIT: a debit, skipped) are optional; others are ignored.
* `amount`: digits with "." or "," before at most 2 decimals, spaces or (narrow) no-break spaces
  between groups of three digits: "150 000,00", "150000.00", "86500". Never negative; at most
  12 digits before the decimals, as in camt.053.
* `booked_at`: 2024-05-01, 01.05.2024, or a time after either (2024-05-01T09:30:00+05:00,
  01.05.2024 09:30); no offset means Almaty time. Years 2000 to 2099, as in camt.053.
* Blank rows are ignored; every other row must have as many fields as the header.

Personal account numbers
------------------------
"KZK", 8 digits (the account's sequence number, zero-padded) and a Luhn (mod 10) check digit
computed over the 8 digits: sequence 12345678 is KZK123456782. The check digit catches every
single mistyped digit and every swap of two neighbouring different digits except 0 and 9 (a known
blind spot of Luhn: ...09... and ...90... share a check digit). Remittance texts are searched
tolerantly: lower case, the Cyrillic letter К in place of K ("КZК"), and spaces, no-break
spaces or dashes between the prefix, digit groups and the check digit ("KZK 1234 5678 2",
"kzk-12345678-2").
The Cyrillic "З" is not read as Z (it looks like the digit 3, and "КЗК" is a transliteration,
not a look-alike), and digits without the "KZK" prefix are never taken for an account number.
Only numbers whose check digit is right are returned.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree

from core.clock import ALMATY
from core.errors import ApplicationError
from core.money import TENGE

KZT = "KZT"
MIB = 1024 * 1024
MAX_STATEMENT_BYTES = 20 * MIB
CAMT053_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."
CAMT053_VERSIONS = ("02", "03", "04", "05", "06", "07", "08")
ISO20022_NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
BANK_REFERENCE_MAX_LENGTH = 80
RAW_TEXT_LIMIT = 300
MAX_AMOUNT_DIGITS = 18  # ISO 20022 amounts have at most 18 digits in all
# The ledger keeps 14 digits, 2 of them tiyn (deposits.models.MONEY): larger whole amounts are
# refused here rather than failing, half imported, when stored.
MAX_AMOUNT_WHOLE_DIGITS = 12
# Booking and creation times are read only within these years; outside them a date is a typo
# (and the first and last days of the calendar have no UTC moment in Almaty time).
EARLIEST_YEAR = 2000
LATEST_YEAR = 2099

CSV_REQUIRED_COLUMNS = ("reference", "booked_at", "amount", "remittance")
CSV_OPTIONAL_COLUMNS = ("currency", "payer_name", "payer_iban", "payer_bin", "direction")
CSV_DIRECTIONS = {
    "CRDT": "CRDT",
    "C": "CRDT",
    "CREDIT": "CRDT",
    "DBIT": "DBIT",
    "D": "DBIT",
    "DEBIT": "DBIT",
}

ACCOUNT_NUMBER_PREFIX = "KZK"
ACCOUNT_NUMBER_SEQUENCE_DIGITS = 8
MAX_ACCOUNT_SEQUENCE = 10**ACCOUNT_NUMBER_SEQUENCE_DIGITS - 1

# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True)
class StatementLine:
    """A booked credit in tenge: money that arrived and is to be put on a personal account."""

    bank_reference: str
    amount: Decimal
    currency: str
    booked_at: dt.date | dt.datetime
    remittance: str
    payer_name: str = ""
    payer_iban: str = ""
    payer_bin: str = ""
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def account_numbers(self) -> list[str]:
        """Every valid personal account number in the remittance information."""
        return find_account_numbers(self.remittance)

    @property
    def account_number(self) -> str | None:
        """The personal account this line is for, or None (no number or several: park it)."""
        numbers = self.account_numbers
        return numbers[0] if len(numbers) == 1 else None


@dataclasses.dataclass(frozen=True)
class SkippedLine:
    """An entry that is not a booked credit in tenge, kept so the import can report it.

    `reason_code`: "not_booked" (PDNG, INFO…), "debit", "reversal", "currency" or "duplicate".
    """

    reason_code: str
    reason: str
    bank_reference: str
    amount: Decimal | None
    currency: str
    raw: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Statement:
    format: str  # "camt.053.001.02" … "camt.053.001.08" or "csv"
    account_iban: str
    currency: str
    statement_id: str
    created_at: dt.datetime | None
    lines: list[StatementLine]
    skipped: list[SkippedLine]


# ---------------------------------------------------------------------------------------------
# Personal account numbers


def luhn_check_digit(digits: str) -> int:
    """The Luhn (mod 10) check digit to append to `digits`."""
    if not digits.isascii() or not digits.isdigit():
        raise ValueError("Luhn digits must be ASCII digits.")
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 0:  # the rightmost digit is doubled, as is every second one after it
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10


def personal_account_number(n: int) -> str:
    """The account number of sequence number `n` (1 to 99 999 999): 12345678 → 'KZK123456782'."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ACCOUNT_SEQUENCE:
        raise ValueError(f"A personal account sequence number is 1 to {MAX_ACCOUNT_SEQUENCE}.")
    digits = f"{n:0{ACCOUNT_NUMBER_SEQUENCE_DIGITS}d}"
    return f"{ACCOUNT_NUMBER_PREFIX}{digits}{luhn_check_digit(digits)}"


# Cyrillic К/к read as Latin K; Z has no Cyrillic look-alike ("З" looks like the digit 3).
_K = "KkКк"
_Z = "Zz"
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2212"
_ACCOUNT_NUMBER_IN_TEXT = re.compile(
    rf"[{_K}][{_Z}][{_K}]"
    rf"[\s{_DASHES}:#№.]{{0,4}}"
    rf"(?P<digits>[0-9]+(?:[\s{_DASHES}]{{1,3}}[0-9]+)*)"
)
_DIGIT_GROUPS = re.compile(r"[0-9]+")
_ACCOUNT_NUMBER_SEPARATORS = re.compile(rf"[\s{_DASHES}]+")
_NORMALIZED_ACCOUNT_NUMBER = re.compile(r"KZK([0-9]{9})")
_TO_LATIN_K = str.maketrans({"К": "K", "к": "k"})


def normalize_personal_account_number(value: object) -> str | None:
    """'kzk 1234 5678-2' or 'КZК123456782' → 'KZK123456782'; None unless it is a valid number."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    compact = _ACCOUNT_NUMBER_SEPARATORS.sub("", value).translate(_TO_LATIN_K).upper()
    match = _NORMALIZED_ACCOUNT_NUMBER.fullmatch(compact)
    if match is None:
        return None
    digits = match.group(1)
    if luhn_check_digit(digits[:-1]) != int(digits[-1]) or int(digits[:-1]) == 0:
        return None
    return compact


def is_valid_personal_account_number(value: object) -> bool:
    """Whether `value` is a personal account number with the right check digit (tolerant form)."""
    return normalize_personal_account_number(value) is not None


def find_account_numbers(remittance: str) -> list[str]:
    """The valid personal account numbers in a remittance text, normalized, each once, in order.

    After the "KZK" prefix, digit groups are taken while they add up to fewer than 9 digits; a
    number is a candidate only if a group boundary falls exactly at 9 digits, so an amount or a
    date written after the number is not glued to it ("KZK 1234 5678 2 100 000 тг").
    """
    if not isinstance(remittance, str):
        return []
    found: list[str] = []
    for match in _ACCOUNT_NUMBER_IN_TEXT.finditer(remittance):
        digits = ""
        for group in _DIGIT_GROUPS.findall(match.group("digits")):
            digits += group
            if len(digits) >= 9:
                break
        if len(digits) != 9:
            continue
        number = normalize_personal_account_number(ACCOUNT_NUMBER_PREFIX + digits)
        if number is not None and number not in found:
            found.append(number)
    return found


# ---------------------------------------------------------------------------------------------
# Entry point


def parse_statement(
    data: bytes, *, filename: str = "", max_bytes: int = MAX_STATEMENT_BYTES
) -> Statement:
    """Read a camt.053 XML or CSV bank statement; raise ApplicationError("statement_invalid")."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_statement() reads bytes.")
    data = bytes(data)
    if len(data) > max_bytes:
        raise _invalid(
            _(
                "The file is too large (%(size)s MiB); statements of at most %(limit)s MiB are "
                "accepted. Export a shorter period."
            )
            % {"size": _mebibytes(len(data)), "limit": _mebibytes(max_bytes)}
        )
    if not data.strip() or data.strip() == b"\xef\xbb\xbf":
        raise _invalid(_("The file is empty."))
    if _looks_like_xml(data):
        return _Camt053Reader(data).read()
    if filename.lower().endswith(".xml"):
        raise _invalid(
            _("The file %(name)s is not XML: a camt.053 statement starts with “<”.")
            % {"name": filename}
        )
    return _CsvReader(data).read()


def _mebibytes(size: int) -> str:
    return str((Decimal(size) / MIB).quantize(Decimal("0.1")))


def _looks_like_xml(data: bytes) -> bool:
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace").lstrip().startswith("<")
    return data.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _invalid(message: str, **where: Any) -> ApplicationError:
    fields: dict[str, Any] = {"file": [message]}
    where = {key: value for key, value in where.items() if value not in (None, "")}
    if where:
        fields["where"] = where
    return ApplicationError("statement_invalid", message, status=400, fields=fields)


def _clean(text: str | None) -> str:
    """Whitespace runs (new lines, tabs, no-break spaces) become one space; ends are trimmed."""
    return " ".join((text or "").split())


def _short(text: str) -> str:
    return text if len(text) <= RAW_TEXT_LIMIT else text[: RAW_TEXT_LIMIT - 1] + "…"


def _raw(**values: Any) -> dict[str, Any]:
    return {
        key: _short(value) if isinstance(value, str) else value
        for key, value in values.items()
        if value not in (None, "")
    }


def _iban(value: str) -> str:
    return "".join(value.split()).upper()


@dataclasses.dataclass(frozen=True)
class _Place:
    """Where a problem is, for people ("Entry 3 (line 57)") and for programs (`fields`)."""

    entry: int | None = None
    line: int | None = None
    transaction: int | None = None
    csv_line: int | None = None

    def __str__(self) -> str:
        if self.csv_line is not None:
            return _("Line %(line)s") % {"line": self.csv_line}
        values = {"entry": self.entry, "line": self.line or "?", "transaction": self.transaction}
        if self.transaction is None:
            return _("Entry %(entry)s (line %(line)s)") % values
        return _("Entry %(entry)s, transaction %(transaction)s (line %(line)s)") % values

    def error(self, message: str) -> ApplicationError:
        return _invalid(
            message,
            entry=self.entry,
            transaction=self.transaction,
            line=self.line if self.csv_line is None else self.csv_line,
        )


_XML_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
_CSV_AMOUNT = re.compile(
    r"(?P<whole>[0-9]{1,3}(?:[ \u00a0\u202f\u2009][0-9]{3})+|[0-9]+)(?:[.,](?P<fraction>[0-9]+))?"
)
_CURRENCY = re.compile(r"[A-Z]{3}")


def _amount(text: str, place: _Place, pattern: re.Pattern[str]) -> Decimal:
    """A non-negative amount with at most 2 decimals, exactly as written."""
    shown = _short(text)
    if text.startswith("-"):
        raise place.error(
            _(
                "%(where)s: the amount %(amount)s is negative; amounts in a statement are never "
                "negative, a debit is marked as such."
            )
            % {"where": place, "amount": shown}
        )
    match = pattern.fullmatch(text)
    if match is None:
        raise place.error(
            _("%(where)s: the amount %(amount)s is not a number like 150000.00.")
            % {"where": place, "amount": shown}
        )
    whole = re.sub(r"[^0-9]", "", match.group("whole"))
    fraction = match.group("fraction") or ""
    if len(fraction) > 2:
        raise place.error(
            _(
                "%(where)s: the amount %(amount)s has more than 2 decimal places; tenge amounts "
                "have at most 2 (tiyn)."
            )
            % {"where": place, "amount": shown}
        )
    if (
        len(whole.lstrip("0")) + len(fraction) > MAX_AMOUNT_DIGITS
        or len(whole.lstrip("0")) > MAX_AMOUNT_WHOLE_DIGITS
    ):
        raise place.error(
            _("%(where)s: the amount %(amount)s is too large.") % {"where": place, "amount": shown}
        )
    return Decimal(f"{whole}.{fraction or '0'}").quantize(TENGE)


def _positive(amount: Decimal, place: _Place) -> None:
    if amount <= 0:
        raise place.error(
            _("%(where)s: the amount is zero; a payment must be more than zero.") % {"where": place}
        )


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_WITH_OFFSET = re.compile(r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_DATETIME = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?)"
    r"(?:\.(?P<fraction>[0-9]+))?(?P<offset>Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_DOTTED = re.compile(
    r"(?P<day>[0-9]{2})\.(?P<month>[0-9]{2})\.(?P<year>[0-9]{4})"
    r"(?:[T ](?P<time>[0-9]{2}:[0-9]{2}(?::[0-9]{2})?))?"
)


def _parse_datetime(value: str) -> dt.datetime | None:
    """An ISO 8601 date and time → aware datetime (no offset: Almaty time); None if not one."""
    match = _DATETIME.fullmatch(value)
    if match is None:
        return None
    fraction = (match.group("fraction") or "")[:6]
    text = f"{match.group('date')}T{match.group('time')}"
    if fraction:
        text += f".{fraction.ljust(6, '0')}"
    offset = match.group("offset") or ""
    if offset == "Z":
        offset = "+00:00"
    elif offset and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        moment = dt.datetime.fromisoformat(text + offset)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ALMATY)


def _out_of_years(value: dt.date | dt.datetime | None) -> bool:
    return value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR


def _years_message(where: object, shown: str) -> str:
    return _(
        "%(where)s: the date %(value)s is not between the years %(earliest)s and %(latest)s."
    ) % {
        "where": where,
        "value": shown,
        "earliest": EARLIEST_YEAR,
        "latest": LATEST_YEAR,
    }


def _parse_date(value: str) -> dt.date | None:
    match = _DATE_WITH_OFFSET.fullmatch(value)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group("date"))
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# camt.053


@dataclasses.dataclass
class _Collector:
    """Lines and skipped entries in file order; one payment per bank reference."""

    lines: list[StatementLine] = dataclasses.field(default_factory=list)
    skipped: list[SkippedLine] = dataclasses.field(default_factory=list)
    seen: dict[str, tuple[StatementLine, _Place]] = dataclasses.field(default_factory=dict)

    def add(self, line: StatementLine, place: _Place) -> None:
        if len(line.bank_reference) > BANK_REFERENCE_MAX_LENGTH:
            raise place.error(
                _("%(where)s: the bank reference is longer than %(limit)s characters.")
                % {"where": place, "limit": BANK_REFERENCE_MAX_LENGTH}
            )
        earlier = self.seen.get(line.bank_reference)
        if earlier is None:
            self.seen[line.bank_reference] = (line, place)
            self.lines.append(line)
            return
        first, first_place = earlier
        same = (first.amount, first.currency, first.booked_at, first.remittance) == (
            line.amount,
            line.currency,
            line.booked_at,
            line.remittance,
        )
        if not same:
            raise place.error(
                _(
                    "%(where)s: the bank reference %(reference)s is also used in %(other)s for a "
                    "different payment; a bank reference must name one payment."
                )
                % {"where": place, "reference": line.bank_reference, "other": first_place}
            )
        self.skip(
            "duplicate",
            _("The same payment appears again in the file with the same bank reference."),
            line.bank_reference,
            line.amount,
            line.currency,
            line.raw,
        )

    def skip(
        self,
        code: str,
        reason: str,
        reference: str,
        amount: Decimal | None,
        currency: str,
        raw: dict[str, Any],
    ) -> None:
        self.skipped.append(SkippedLine(code, str(reason), reference, amount, currency, raw))


_XML_ERROR_POSITION = re.compile(r",? line [0-9]+, column [0-9]+$")
_DOCTYPE_MARKS = tuple(
    mark.encode(encoding)
    for mark in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _declares_dtd(data: bytes) -> bool:
    """Whether the file holds a DTD or entity declaration (looked for before any parsing)."""
    return any(mark in data for mark in _DOCTYPE_MARKS)


def _dtd_refused() -> ApplicationError:
    return _invalid(
        _(
            "The file declares a DTD (<!DOCTYPE …>). Bank statements never do, and such "
            "declarations can hide entity attacks; the file was not read."
        )
    )


def _without_space_before_declaration(data: bytes) -> bytes:
    """Blank lines before `<?xml …?>` (some exports have them) moved after it, so the file parses
    and every line keeps its number."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data
    body = data.removeprefix(b"\xef\xbb\xbf")
    stripped = body.lstrip()
    end = stripped.find(b"?>")
    if len(stripped) == len(body) or not stripped.startswith(b"<?xml") or end == -1:
        return data
    newlines = b"\n" * body[: len(body) - len(stripped)].count(b"\n")
    return stripped[: end + 2] + newlines + stripped[end + 2 :]


class _Camt053Reader:
    def __init__(self, data: bytes) -> None:
        self.data = _without_space_before_declaration(data)
        self.namespace = ""
        self.paths: dict[str, str] = {}

    # -- element helpers ------------------------------------------------------------------

    def _path(self, path: str) -> str:
        """'Acct/Id' → '{ns}Acct/{ns}Id' (lxml caches such paths; a namespace map it would not)."""
        compiled = self.paths.get(path)
        if compiled is None:
            compiled = "/".join(f"{{{self.namespace}}}{part}" for part in path.split("/"))
            self.paths[path] = compiled
        return compiled

    def find(self, element, path: str):
        return None if element is None else element.find(self._path(path))

    def findall(self, element, path: str) -> list:
        return [] if element is None else element.findall(self._path(path))

    def text(self, element, path: str) -> str:
        node = self.find(element, path)
        return "" if node is None else _clean(node.text)

    def texts(self, element, path: str) -> list[str]:
        return [text for node in self.findall(element, path) if (text := _clean(node.text))]

    # -- document ----------------------------------------------------------------------------

    def _root(self):
        if _declares_dtd(self.data):
            raise _dtd_refused()
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            root = etree.fromstring(self.data, parser)
        except etree.XMLSyntaxError as exc:
            detail = _XML_ERROR_POSITION.sub("", str(exc.msg or exc))
            raise _invalid(
                _(
                    "The file is not well-formed XML at line %(line)s (%(detail)s); it may be "
                    "cut short or not be a bank statement. Download the statement again."
                )
                % {"line": exc.lineno or "?", "detail": _short(detail)},
                line=exc.lineno,
            ) from exc
        except (etree.LxmlError, ValueError, LookupError) as exc:
            raise _invalid(
                _("The file could not be read as XML: %(detail)s") % {"detail": _short(str(exc))}
            ) from exc
        tree = root.getroottree()
        if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
            raise _dtd_refused()
        return root

    def _version(self, root) -> str:
        qname = etree.QName(root)
        namespace = qname.namespace or ""
        if namespace.startswith(CAMT053_NAMESPACE_PREFIX):
            version = namespace.removeprefix(CAMT053_NAMESPACE_PREFIX)
            if version not in CAMT053_VERSIONS:
                raise _invalid(
                    _(
                        "camt.053.001.%(version)s is not supported; export the statement as "
                        "camt.053 version 001.02 to 001.08."
                    )
                    % {"version": _short(version)}
                )
            if qname.localname != "Document":
                raise _invalid(
                    _("The XML's root element is %(tag)s; a camt.053 statement has Document.")
                    % {"tag": _short(qname.localname)}
                )
            return version
        if namespace.startswith(ISO20022_NAMESPACE_PREFIX):
            raise _invalid(
                _("This is an ISO 20022 %(message)s message, not a camt.053 bank statement.")
                % {"message": _short(namespace.removeprefix(ISO20022_NAMESPACE_PREFIX))}
            )
        raise _invalid(
            _(
                "This XML is not a camt.053 bank statement: its namespace is %(namespace)s, "
                "expected urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 to .08."
            )
            % {"namespace": _short(namespace) or _("(none)")}
        )

    def read(self) -> Statement:
        root = self._root()
        version = self._version(root)
        self.namespace = etree.QName(root).namespace
        message = self.find(root, "BkToCstmrStmt")
        statements = self.findall(message, "Stmt")
        if not statements:
            raise _invalid(_("The file holds no statement (BkToCstmrStmt/Stmt)."))

        accounts: list[str] = []
        currencies: list[str] = []
        ids: list[str] = []
        for number, stmt in enumerate(statements, start=1):
            iban = _iban(self.text(stmt, "Acct/Id/IBAN") or self.text(stmt, "Acct/Id/Othr/Id"))
            if not iban:
                raise _invalid(
                    _("Statement %(number)s (line %(line)s) does not name its account (Acct/Id).")
                    % {"number": number, "line": stmt.sourceline or "?"},
                    line=stmt.sourceline,
                )
            if iban not in accounts:
                accounts.append(iban)
            currency = self.text(stmt, "Acct/Ccy")
            if currency and currency not in currencies:
                currencies.append(currency)
            if (statement_id := self.text(stmt, "Id")) and statement_id not in ids:
                ids.append(statement_id)
        if len(accounts) > 1:
            raise _invalid(
                _(
                    "The file holds statements of several accounts (%(accounts)s); export only "
                    "the registrar's account."
                )
                % {"accounts": _short(", ".join(accounts))}
            )
        if len(currencies) > 1:
            raise _invalid(
                _("The file's statements are in several currencies (%(currencies)s).")
                % {"currencies": _short(", ".join(currencies))}
            )

        created_text = self.text(message, "GrpHdr/CreDtTm") or self.text(statements[0], "CreDtTm")
        created_at = _parse_datetime(created_text) if created_text else None
        if created_text and created_at is None:
            raise _invalid(
                _(
                    "The statement's creation time %(value)s is not a date and time like "
                    "2024-05-01T09:30:00+05:00."
                )
                % {"value": _short(created_text)}
            )
        if _out_of_years(created_at):
            raise _invalid(_years_message(_("The statement's creation time"), _short(created_text)))

        collector = _Collector()
        entry_number = 0
        for stmt in statements:
            for entry in self.findall(stmt, "Ntry"):
                entry_number += 1
                self._entry(entry, _Place(entry=entry_number, line=entry.sourceline), collector)

        return Statement(
            format=f"camt.053.001.{version}",
            account_iban=accounts[0],
            currency=currencies[0] if currencies else "",
            statement_id=_short(", ".join(ids)),
            created_at=created_at,
            lines=collector.lines,
            skipped=collector.skipped,
        )

    # -- entries -------------------------------------------------------------------------------

    def _amount_of(self, node, element: str, place: _Place) -> tuple[Decimal, str]:
        if node is None or not _clean(node.text):
            raise place.error(
                _("%(where)s: the amount (%(element)s) is missing.")
                % {"where": place, "element": element}
            )
        amount = _amount(_clean(node.text), place, _XML_AMOUNT)
        currency = _clean(node.get("Ccy"))
        if not _CURRENCY.fullmatch(currency):
            raise place.error(
                _(
                    "%(where)s: the amount %(amount)s has no valid currency (the Ccy attribute, "
                    "like KZT)."
                )
                % {"where": place, "amount": amount}
            )
        return amount, currency

    def _status(self, entry, place: _Place) -> str:
        node = self.find(entry, "Sts")
        status = ""
        if node is not None:
            status = self.text(node, "Cd") or self.text(node, "Prtry") or _clean(node.text)
        if not status:
            raise place.error(_("%(where)s: the status (Sts) is missing.") % {"where": place})
        return status

    def _booked_at(self, entry, place: _Place) -> dt.date | dt.datetime:
        for element in ("BookgDt", "ValDt"):
            node = self.find(entry, element)
            if node is None:
                continue
            if moment_text := self.text(node, "DtTm"):
                moment = _parse_datetime(moment_text)
                if moment is None:
                    raise place.error(
                        _(
                            "%(where)s: %(element)s %(value)s is not a date and time like "
                            "2024-05-01T09:30:00+05:00."
                        )
                        % {"where": place, "element": element, "value": _short(moment_text)}
                    )
                if _out_of_years(moment):
                    raise place.error(_years_message(place, _short(moment_text)))
                return moment
            if day_text := self.text(node, "Dt"):
                day = _parse_date(day_text)
                if day is None:
                    raise place.error(
                        _("%(where)s: %(element)s %(value)s is not a date like 2024-05-01.")
                        % {"where": place, "element": element, "value": _short(day_text)}
                    )
                if _out_of_years(day):
                    raise place.error(_years_message(place, _short(day_text)))
                return day
        raise place.error(
            _("%(where)s: it has neither a booking date (BookgDt) nor a value date (ValDt).")
            % {"where": place}
        )

    def _entry(self, entry, place: _Place, collector: _Collector) -> None:
        amount, currency = self._amount_of(self.find(entry, "Amt"), "Amt", place)
        direction = self.text(entry, "CdtDbtInd")
        if direction not in ("CRDT", "DBIT"):
            raise place.error(
                _("%(where)s: the direction (CdtDbtInd) is %(value)s; it must be CRDT or DBIT.")
                % {"where": place, "value": _short(direction) or _("(none)")}
            )
        status = self._status(entry, place)
        reversal_text = self.text(entry, "RvslInd").lower()
        if reversal_text not in ("", "true", "false", "1", "0"):
            raise place.error(
                _(
                    "%(where)s: the reversal indicator (RvslInd) is %(value)s; it must be true "
                    "or false."
                )
                % {"where": place, "value": _short(reversal_text)}
            )
        entry_reference = self.text(entry, "AcctSvcrRef") or self.text(entry, "NtryRef")
        raw = _raw(
            entry=place.entry,
            line=place.line,
            status=status,
            direction=direction,
            amount=str(amount),
            currency=currency,
            ntry_ref=self.text(entry, "NtryRef"),
            acct_svcr_ref=self.text(entry, "AcctSvcrRef"),
            booking_date=self.text(entry, "BookgDt/Dt") or self.text(entry, "BookgDt/DtTm"),
            value_date=self.text(entry, "ValDt/Dt") or self.text(entry, "ValDt/DtTm"),
            reversal=reversal_text in ("true", "1") or None,
            additional_info=self.text(entry, "AddtlNtryInf"),
        )

        def skip(code: str, reason: str) -> None:
            collector.skip(code, reason, entry_reference, amount, currency, raw)

        if status != "BOOK":
            skip(
                "not_booked",
                _("Not booked (status %(status)s); it will come in a later statement once booked.")
                % {"status": _short(status)},
            )
        elif direction == "DBIT":
            skip("debit", _("A debit: money going out of the account."))
        elif reversal_text in ("true", "1"):
            skip("reversal", _("A reversal of an earlier entry; an operator checks it."))
        elif currency != KZT:
            skip("currency", _("In %(currency)s, not in tenge.") % {"currency": currency})
        else:
            _positive(amount, place)
            booked_at = self._booked_at(entry, place)
            transactions = [
                transaction
                for details in self.findall(entry, "NtryDtls")
                for transaction in self.findall(details, "TxDtls")
            ]
            if len(transactions) > 1:
                for line, line_place in self._batch(
                    entry_reference, amount, currency, booked_at, transactions, raw, place
                ):
                    collector.add(line, line_place)
                return
            transaction = transactions[0] if transactions else None
            if transaction is not None:
                own = self._transaction_amount(transaction, place)
                if own is not None and own != (amount, currency):
                    raise place.error(
                        _(
                            "%(where)s: its transaction is for %(transaction_amount)s "
                            "%(transaction_currency)s but the entry is for %(amount)s %(currency)s."
                        )
                        % {
                            "where": place,
                            "transaction_amount": own[0],
                            "transaction_currency": own[1],
                            "amount": amount,
                            "currency": currency,
                        }
                    )
            reference = entry_reference or self.text(transaction, "Refs/AcctSvcrRef")
            if not reference:
                raise place.error(
                    _(
                        "%(where)s: it has no bank reference (AcctSvcrRef or NtryRef), so it "
                        "could not be imported only once."
                    )
                    % {"where": place}
                )
            collector.add(
                self._line(reference, amount, currency, booked_at, transaction, raw), place
            )

    def _transaction_amount(self, transaction, place: _Place) -> tuple[Decimal, str] | None:
        for element in ("Amt", "AmtDtls/TxAmt/Amt"):
            node = self.find(transaction, element)
            if node is not None:
                return self._amount_of(node, element, place)
        return None

    def _transaction_reference(self, transaction) -> str:
        end_to_end = self.text(transaction, "Refs/EndToEndId")
        if end_to_end.upper() == "NOTPROVIDED":
            end_to_end = ""
        return (
            self.text(transaction, "Refs/AcctSvcrRef")
            or end_to_end
            or self.text(transaction, "Refs/TxId")
        )

    def _batch(
        self, entry_reference, amount, currency, booked_at, transactions, raw, place
    ) -> list[tuple[StatementLine, _Place]]:
        """Several transactions in one entry: one line each, adding up to the entry's amount."""
        if not entry_reference:
            raise place.error(
                _(
                    "%(where)s: it has no bank reference (AcctSvcrRef or NtryRef), so it "
                    "could not be imported only once."
                )
                % {"where": place}
            )
        amounts: list[Decimal] = []
        for number, transaction in enumerate(transactions, start=1):
            tx_place = dataclasses.replace(place, transaction=number, line=transaction.sourceline)
            own = self._transaction_amount(transaction, tx_place)
            if own is None:
                raise tx_place.error(
                    _("%(where)s: the transaction has no amount (Amt or AmtDtls/TxAmt/Amt).")
                    % {"where": tx_place}
                )
            if own[1] != currency:
                raise tx_place.error(
                    _(
                        "%(where)s: the transaction is in %(found)s but its entry is in "
                        "%(currency)s."
                    )
                    % {"where": tx_place, "found": own[1], "currency": currency}
                )
            if self.text(transaction, "CdtDbtInd") not in ("", "CRDT"):
                raise tx_place.error(
                    _("%(where)s: the transaction is not a credit but its entry is.")
                    % {"where": tx_place}
                )
            _positive(own[0], tx_place)
            amounts.append(own[0])
        total = sum(amounts, Decimal("0.00"))
        if total != amount:
            raise place.error(
                _(
                    "%(where)s: its %(count)s transactions add up to %(total)s %(currency)s, but "
                    "the entry is for %(amount)s %(currency)s."
                )
                % {
                    "where": place,
                    "count": len(transactions),
                    "total": total,
                    "amount": amount,
                    "currency": currency,
                }
            )
        own_references = [self._transaction_reference(t) for t in transactions]
        lines = []
        for number, (transaction, own_amount, own_reference) in enumerate(
            zip(transactions, amounts, own_references, strict=True), start=1
        ):
            if not own_reference or own_references.count(own_reference) > 1:
                own_reference = f"#{number}"
            tx_place = dataclasses.replace(place, transaction=number, line=transaction.sourceline)
            tx_raw = {**raw, "transaction": number, "line": transaction.sourceline}
            tx_raw.update(amount=str(own_amount), entry_amount=str(amount))
            line = self._line(
                f"{entry_reference}/{own_reference}",
                own_amount,
                currency,
                booked_at,
                transaction,
                tx_raw,
            )
            lines.append((line, tx_place))
        return lines

    def _line(self, reference, amount, currency, booked_at, transaction, raw) -> StatementLine:
        remittance = " ".join(
            self.texts(transaction, "RmtInf/Ustrd")
            + self.texts(transaction, "RmtInf/Strd/CdtrRefInf/Ref")
        )
        debtor = self.find(transaction, "RltdPties/Dbtr")
        party = self.find(debtor, "Pty")
        if party is None:
            party = debtor
        payer_name = self.text(party, "Nm")
        identifiers = self.texts(party, "Id/OrgId/Othr/Id") + self.texts(party, "Id/PrvtId/Othr/Id")
        twelve_digits = [value for value in identifiers if re.fullmatch(r"[0-9]{12}", value)]
        payer_bin = (twelve_digits or identifiers or [""])[0]
        payer_iban = _iban(self.text(transaction, "RltdPties/DbtrAcct/Id/IBAN"))
        raw = {
            **raw,
            **_raw(
                tx_acct_svcr_ref=self.text(transaction, "Refs/AcctSvcrRef"),
                tx_id=self.text(transaction, "Refs/TxId"),
                end_to_end_id=self.text(transaction, "Refs/EndToEndId"),
                payer=payer_name,
                payer_iban=payer_iban,
                payer_bin=payer_bin,
                remittance=remittance,
                additional_info=self.text(transaction, "AddtlTxInf") or raw.get("additional_info"),
            ),
        }
        return StatementLine(
            bank_reference=reference,
            amount=amount,
            currency=currency,
            booked_at=booked_at,
            remittance=remittance,
            payer_name=_short(payer_name),
            payer_iban=_short(payer_iban),
            payer_bin=_short(payer_bin),
            raw=raw,
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
