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

from decimal import Decimal

from django.utils.translation import gettext as _

from deposits.statements.camt053 import _Camt053Reader
from deposits.statements.common import (
    BANK_REFERENCE_MAX_LENGTH,
    CAMT053_VERSIONS,
    EARLIEST_YEAR,
    LATEST_YEAR,
    MAX_AMOUNT_WHOLE_DIGITS,
    MAX_STATEMENT_BYTES,
    MIB,
    SkippedLine,
    Statement,
    StatementLine,
    _invalid,
)
from deposits.statements.csv_file import _CsvReader
from deposits.statements.matching import (
    find_account_numbers,
    is_valid_personal_account_number,
    luhn_check_digit,
    normalize_personal_account_number,
    personal_account_number,
)

__all__ = [
    "BANK_REFERENCE_MAX_LENGTH",
    "CAMT053_VERSIONS",
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "MAX_AMOUNT_WHOLE_DIGITS",
    "MAX_STATEMENT_BYTES",
    "MIB",
    "SkippedLine",
    "Statement",
    "StatementLine",
    "find_account_numbers",
    "is_valid_personal_account_number",
    "luhn_check_digit",
    "normalize_personal_account_number",
    "parse_statement",
    "personal_account_number",
]

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
