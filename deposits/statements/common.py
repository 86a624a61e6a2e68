"""What the readers of bank statements share: limits, the values a statement is read into,
and the checks of amounts, dates and texts with the place in the file they come from."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from core.clock import ALMATY
from core.errors import ApplicationError
from core.money import TENGE
from deposits.statements.matching import find_account_numbers

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
