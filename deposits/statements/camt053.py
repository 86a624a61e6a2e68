"""ISO 20022 camt.053 statements (versions 02 to 08), read safely (no DTD, no entities)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from decimal import Decimal

from django.utils.translation import gettext as _
from lxml import etree

from core.errors import ApplicationError
from deposits.statements.common import (
    _CURRENCY,
    _XML_AMOUNT,
    CAMT053_NAMESPACE_PREFIX,
    CAMT053_VERSIONS,
    ISO20022_NAMESPACE_PREFIX,
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
