"""P1 under hostile input: camt.053 (every supported version) and CSV statements mutated element
by element (dropped, doubled, garbled, moved), with huge numbers, the wrong encodings and entity
attacks (billion laughs, external entities) give either a statement whose every line the ledger
can hold or a clean `statement_invalid` refusal; a refused file imports nothing at all."""

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from core.errors import ApplicationError
from deposits import services
from deposits.models import StatementEntry, StatementImport, Transfer
from deposits.statements import (
    BANK_REFERENCE_MAX_LENGTH,
    CAMT053_VERSIONS,
    EARLIEST_YEAR,
    LATEST_YEAR,
    MAX_AMOUNT_WHOLE_DIGITS,
    Statement,
    parse_statement,
)

REGISTRAR_IBAN = "KZ86125KZT5004100100"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


# --- valid documents -------------------------------------------------------------------------


def camt_entry(version: str, number: int, amount: str, batch: int, account: str) -> str:
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version == "08" else "<Sts>BOOK</Sts>"
    debtor = (
        "<Dbtr><Pty><Nm>{}</Nm></Pty></Dbtr>" if version == "08" else "<Dbtr><Nm>{}</Nm></Dbtr>"
    )
    if batch <= 1:
        details = f"""<TxDtls>
            <Refs><EndToEndId>E2E-{number}</EndToEndId></Refs>
            <RltdPties>{debtor.format("ТОО «Керуен»")}</RltdPties>
            <RmtInf><Ustrd>Пополнение счёта {account}</Ustrd></RmtInf>
          </TxDtls>"""
        total = amount
    else:
        parts = [f"{Decimal(amount) + part:.2f}" for part in range(batch)]
        total = str(sum(Decimal(part) for part in parts))
        details = "".join(
            f"""<TxDtls>
            <Refs><AcctSvcrRef>TX-{number}-{part}</AcctSvcrRef></Refs>
            <Amt Ccy="KZT">{value}</Amt>
            <RmtInf><Ustrd>{account} оплата {part}</Ustrd></RmtInf>
          </TxDtls>"""
            for part, value in enumerate(parts)
        )
    return f"""
      <Ntry>
        <NtryRef>N-{number}</NtryRef>
        <Amt Ccy="KZT">{total}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        {status}
        <BookgDt><Dt>2024-05-0{1 + number % 9}</Dt></BookgDt>
        <ValDt><Dt>2024-05-0{1 + number % 9}</Dt></ValDt>
        <AcctSvcrRef>FZ-{version}-{number}</AcctSvcrRef>
        <NtryDtls>{details}</NtryDtls>
      </Ntry>"""


def camt_document(version: str, entries: list[tuple[str, int]]) -> bytes:
    body = "".join(
        camt_entry(version, number, amount, batch, "KZK123456782")
        for number, (amount, batch) in enumerate(entries, start=1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>FZ-1</MsgId><CreDtTm>2024-05-10T06:15:00+05:00</CreDtTm></GrpHdr>
    <Stmt>
      <Id>FZ-STMT-1</Id>
      <CreDtTm>2024-05-10T06:15:00+05:00</CreDtTm>
      <Acct><Id><IBAN>{REGISTRAR_IBAN}</IBAN></Id><Ccy>KZT</Ccy></Acct>
      {body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def csv_document(rows: list[tuple[str, str, str]]) -> bytes:
    lines = [
        f"# account: {REGISTRAR_IBAN}",
        "# statement: FZ-CSV-1",
        "# created: 2024-05-10T06:00:00+05:00",
        "reference;booked_at;amount;currency;payer_name;remittance;direction",
    ]
    lines += [
        f'CSV-{n};{booked};{amount};KZT;ТОО «Керуен»;"Пополнение KZK123456782";{direction}'
        for n, (amount, booked, direction) in enumerate(rows, start=1)
    ]
    return ("\n".join(lines) + "\n").encode()


amounts = st.integers(1, 10**9).map(lambda tiyn: f"{Decimal(tiyn) / 100:.2f}")
camt_documents = st.builds(
    camt_document,
    st.sampled_from(CAMT053_VERSIONS),
    st.lists(st.tuples(amounts, st.integers(0, 3)), min_size=1, max_size=4),
)
csv_amounts = st.integers(1, 10**9).map(
    lambda tiyn: f"{tiyn // 100:,}".replace(",", " ") + f",{tiyn % 100:02d}"
)
csv_documents = st.builds(
    csv_document,
    st.lists(
        st.tuples(
            csv_amounts,
            st.sampled_from(["01.05.2024", "2024-05-01", "01.05.2024 09:30"]),
            st.sampled_from(["CRDT", "", "DBIT"]),
        ),
        min_size=1,
        max_size=5,
    ),
)


# --- mutations -------------------------------------------------------------------------------

HOSTILE_TEXTS = [
    "9" * 13,
    "9" * 13 + ".99",
    "9" * 40,
    "1" + "0" * 400,
    "-1.00",
    "1e9",
    "0.001",
    "0",
    "NaN",
    "Infinity",
    "１２３.００",
    "0001-01-01",
    "9999-12-31",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "2024-02-30",
    "",
    " ",
    "\u202e",
    "KZK123456782 " * 50,
    "X" * 200,
]


def element_mutation():
    """One change to one element of the parsed tree, chosen by index so it shrinks well."""
    return st.tuples(
        st.sampled_from(["drop", "double", "garble", "garble_hostile", "attribute", "move"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.text(max_size=30),
        st.sampled_from(HOSTILE_TEXTS),
    )


def mutate_tree(data: bytes, mutations) -> bytes:
    root = etree.fromstring(data)
    for kind, first, second, text, hostile in mutations:
        elements = [element for element in root.iter() if element is not root]
        if not elements:
            break
        element = elements[first % len(elements)]
        parent = element.getparent()
        if kind == "drop":
            parent.remove(element)
        elif kind == "double":
            element.addnext(copy.deepcopy(element))
        elif kind in ("garble", "garble_hostile"):
            value = text if kind == "garble" else hostile
            # lxml refuses text XML cannot hold; such a file cannot exist, so keep what it takes.
            value = "".join(char for char in value if char.isprintable() or char in "\t\n")
            value = "".join(char for char in value if not 0xD800 <= ord(char) <= 0xDFFF)
            try:
                element.text = value
            except ValueError:
                element.text = hostile
        elif kind == "attribute":
            element.set("Ccy", hostile[:20] if second % 2 else "USD")
        else:
            target = elements[second % len(elements)]
            related = element in target.iterancestors() or target in element.iterancestors()
            if target is not element and not related:
                target.addnext(element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-be",
    "windows-1251",
    "latin-1",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
]


def reencode(data: bytes, encoding: str, declared: str) -> bytes:
    """The document's text in `encoding`, its declaration naming `declared` (maybe a lie)."""
    text = data.decode("utf-8")
    text = text.replace('encoding="UTF-8"', f'encoding="{declared}"', 1)
    text = text.replace("encoding='UTF-8'", f"encoding='{declared}'", 1)
    return text.encode(encoding, errors="replace")


def _laughs(level: int) -> str:
    inner = f"&lol{level - 1};" if level > 1 else "&lol;"
    return f'<!ENTITY lol{level} "{inner * 10}">'


BILLION_LAUGHS = (
    '<!DOCTYPE Document [<!ENTITY lol "lol">' + "".join(map(_laughs, range(1, 10))) + "]>"
)
ATTACKS = [
    BILLION_LAUGHS,
    '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/evil.dtd">]>',
    '<!DOCTYPE Document [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>',
    '<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">',
    '<!DOCTYPE Document PUBLIC "-//X//Y" "file:///etc/passwd">',
    "<!DOCTYPE Document>",
    '<!DOCTYPE  Document  [ <!ENTITY   a "b" > ]>',
]


def with_attack(data: bytes, attack: str, where: int) -> bytes:
    """The attack placed before the root, with an entity reference inside the first entry."""
    text = data.decode("utf-8")
    declaration_end = text.index("?>") + 2
    root_start = text.index("<Document")
    at = (declaration_end, root_start)[where % 2]
    text = text[:at] + attack + text[at:]
    for name in ("xxe", "lol9", "a"):
        if f"ENTITY {name} " in attack or f"ENTITY   {name} " in attack:
            text = text.replace("<Ustrd>", f"<Ustrd>&{name};", 1)
    return text.encode("utf-8")


# --- the properties --------------------------------------------------------------------------


def assert_statement_or_refusal(data: bytes) -> Statement | None:
    try:
        statement = parse_statement(data, filename="fuzz.xml" if data[:1] == b"<" else "")
    except ApplicationError as error:
        assert error.code == "statement_invalid"
        assert error.status == 400
        assert isinstance(error.message, str) and error.message.strip()
        assert error.fields["file"] == [error.message]
        json.dumps(error.fields)
        return None
    assert isinstance(statement, Statement)
    for line in statement.lines:
        whole = line.amount.as_tuple()
        assert line.amount > 0 and whole.exponent == -2
        assert len(whole.digits) - 2 <= MAX_AMOUNT_WHOLE_DIGITS
        assert line.currency == "KZT"
        assert 0 < len(line.bank_reference) <= BANK_REFERENCE_MAX_LENGTH
        assert EARLIEST_YEAR <= line.booked_at.year <= LATEST_YEAR
        if isinstance(line.booked_at, dt.datetime):
            assert line.booked_at.tzinfo is not None
        json.dumps(line.raw)
    for skipped in statement.skipped:
        json.dumps(skipped.raw)
    if statement.created_at is not None:
        assert EARLIEST_YEAR <= statement.created_at.year <= LATEST_YEAR
    return statement


@FUZZ
@given(camt_documents)
def test_p1_generated_camt053_of_every_version_is_read(data):
    statement = assert_statement_or_refusal(data)
    assert statement is not None and statement.lines


@FUZZ
@given(csv_documents)
def test_p1_generated_csv_is_read(data):
    assert assert_statement_or_refusal(data) is not None


@FUZZ
@given(camt_documents, st.lists(element_mutation(), min_size=1, max_size=4))
def test_p1_camt053_with_elements_dropped_doubled_garbled_or_moved_is_read_or_refused(
    data, mutations
):
    assert_statement_or_refusal(mutate_tree(data, mutations))


@FUZZ
@given(
    camt_documents,
    st.sampled_from(ENCODINGS),
    st.sampled_from(["UTF-8", "UTF-16", "windows-1251", "ISO-8859-1", "UTF-32", "EBCDIC-US", "X"]),
)
def test_p1_camt053_in_the_wrong_encoding_is_read_or_refused(data, encoding, declared):
    assert_statement_or_refusal(reencode(data, encoding, declared))


@FUZZ
@given(camt_documents, st.sampled_from(ATTACKS), st.integers(0, 1), st.sampled_from(ENCODINGS))
@example(camt_document("02", [("1.00", 1)]), BILLION_LAUGHS, 0, "utf-16")
def test_p1_entity_attacks_are_refused_in_any_encoding(data, attack, where, encoding):
    attacked = with_attack(data, attack, where)
    encoded = reencode(attacked, encoding, "UTF-8" if encoding.startswith("utf-8") else encoding)
    assert assert_statement_or_refusal(encoded) is None


def test_p1_a_dtd_in_utf32_is_refused_before_parsing():
    attacked = with_attack(camt_document("03", [("1.00", 1)]), BILLION_LAUGHS, 0)
    with pytest.raises(ApplicationError) as refused:
        parse_statement(reencode(attacked, "utf-32-le", "UTF-32"))
    assert "declares a DTD" in refused.value.message


def test_p1_the_xml_parser_resolves_no_entity_reads_no_network_and_keeps_lxml_limits(
    monkeypatch,
):
    made = []
    real = etree.XMLParser

    def recording_parser(*args, **kwargs):
        made.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(etree, "XMLParser", recording_parser)
    parse_statement(camt_document("05", [("10.00", 0)]))
    assert made == [
        {
            "resolve_entities": False,
            "no_network": True,
            "huge_tree": False,
            "load_dtd": False,
            "dtd_validation": False,
            "attribute_defaults": False,
            "remove_comments": True,
            "remove_pis": True,
        }
    ]


CSV_HOSTILE_CELLS = [
    *HOSTILE_TEXTS,
    '"',
    '""',
    ";",
    "\r",
    "\x00",
    "\ufeff",
    "—",
    "1 000 000 000 000,00",
]


@FUZZ
@given(
    csv_documents,
    st.integers(0, 10_000),
    st.integers(0, 10_000),
    st.one_of(st.text(max_size=20), st.sampled_from(CSV_HOSTILE_CELLS)),
    st.sampled_from(["replace", "drop_line", "double_line", "drop_cell"]),
)
def test_p1_csv_with_cells_and_lines_garbled_is_read_or_refused(data, line, cell, text, kind):
    lines = data.decode("utf-8").split("\n")
    index = line % len(lines)
    cells = lines[index].split(";")
    if kind == "replace":
        cells[cell % len(cells)] = text
        lines[index] = ";".join(cells)
    elif kind == "drop_cell":
        del cells[cell % len(cells)]
        lines[index] = ";".join(cells)
    elif kind == "drop_line":
        del lines[index]
    else:
        lines.insert(index, lines[index])
    assert_statement_or_refusal("\n".join(lines).encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(csv_documents, st.sampled_from(["utf-16", "utf-32", "windows-1251", "cp500", "latin-1"]))
def test_p1_csv_in_another_encoding_is_read_or_refused(data, encoding):
    assert_statement_or_refusal(data.decode("utf-8").encode(encoding, errors="replace"))


# --- a refused file imports nothing ----------------------------------------------------------


def stored() -> tuple[int, int, int]:
    return (
        StatementImport.objects.count(),
        StatementEntry.objects.count(),
        Transfer.objects.count(),
    )


def assert_imported_or_nothing_stored(data: bytes) -> None:
    before = stored()
    try:
        services.bank_statement_import(data=data, filename="fuzz.xml")
    except ApplicationError as error:
        assert error.code in ("statement_invalid", "statement_wrong_account")
        assert error.status == 400
        assert stored() == before


@pytest.mark.django_db
@settings(FUZZ, max_examples=40)
@given(camt_documents, st.lists(element_mutation(), min_size=1, max_size=3))
def test_p1_a_mutated_camt053_import_is_whole_or_stores_nothing(data, mutations):
    assert_imported_or_nothing_stored(mutate_tree(data, mutations))


def with_last_entry(data: bytes, old: str, new: str) -> bytes:
    head, _sep, tail = data.decode("utf-8").rpartition(old)
    return (head + new + tail).encode("utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize("version", CAMT053_VERSIONS)
@pytest.mark.parametrize(
    ("old", "new"),
    [
        # 13 whole digits: more than the ledger's 14-digit amounts hold.
        ('<Amt Ccy="KZT">2.00</Amt>', '<Amt Ccy="KZT">1000000000000.00</Amt>'),
        ("<Dt>2024-05-03</Dt></BookgDt>", "<Dt>0001-01-01</Dt></BookgDt>"),
        ("<Dt>2024-05-03</Dt></BookgDt>", "<Dt>9999-12-31</Dt></BookgDt>"),
    ],
)
def test_p1_a_file_whose_last_entry_the_ledger_cannot_hold_imports_nothing(version, old, new):
    data = with_last_entry(camt_document(version, [("1.00", 0), ("2.00", 0)]), old, new)
    with pytest.raises(ApplicationError) as refused:
        services.bank_statement_import(data=data, filename="statement.xml")
    assert refused.value.code == "statement_invalid"
    assert refused.value.fields["where"]["entry"] == 2
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [("999 999 999 999,99", True), ("1 000 000 000 000,00", False), ("0000999999999999.99", True)],
)
def test_p1_csv_amounts_up_to_twelve_whole_digits_are_read(amount, accepted):
    data = csv_document([(amount, "01.05.2024", "CRDT")])
    if accepted:
        assert parse_statement(data).lines[0].amount == Decimal("999999999999.99")
    else:
        with pytest.raises(ApplicationError) as refused:
            parse_statement(data)
        assert "is too large" in refused.value.message


@pytest.mark.parametrize("booked", ["01.01.0001", "31.12.9999", "1999-12-31", "2100-01-01"])
def test_p1_csv_dates_outside_2000_to_2099_are_refused(booked):
    with pytest.raises(ApplicationError) as refused:
        parse_statement(csv_document([("100,00", booked, "CRDT")]))
    assert refused.value.message == (
        f"Line 5: the date {booked} is not between the years 2000 and 2099."
    )
