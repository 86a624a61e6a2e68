"""Grow a scale database from its core week to years of history with bulk SQL
(`python -m bench.scale.grow FACTS.json COPIES`).

The week the services wrote (`bench.scale.core history`: the rows with ids between the two
watermarks) is copied COPIES times, each copy one more week back, with INSERT … SELECT over
generate_series: every id moves up by the copy number times the week's id span (so the copies
never meet and ids rise with time from the oldest copy on), every reference into a copied table
moves with it, every timestamp and date moves back by whole weeks (same weekday and hour, so
slot counters and budget batches of a day stay unique), unique keys get the copy's suffix.

What cannot be copied by SQL is made in Python with the project's own functions: receipt
verification codes (`receipts.codes`), audit event hashes and their seals (`core.audit`: event
hash, leaf hash, Merkle root, chain hash, in batches of AUDIT_SEAL_BATCH_SIZE), written with
COPY. Then the carriers' stored balances are set to what their transfers give, the sequences
move past the copies, and the tables are analysed.
"""

import datetime as dt
import json
import sys
import time
import types
from pathlib import Path

import django

django.setup()

from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.scale.common import CORE_DAYS, say  # noqa: E402
from bookings.models import booking_number  # noqa: E402
from core import audit  # noqa: E402
from core.models import AuditBatch, AuditEvent  # noqa: E402
from receipts.codes import new_verification_code  # noqa: E402

AUDIT_TABLES = {"core_auditevent", "core_auditbatch", "core_auditseal"}
# Rows of the week that are not history: sessions and one-off records of the process itself.
# Ledger accounts are the carriers' and the registrar's (a system account is made on first use,
# which may fall in the week): copies move money between the same accounts.
NOT_COPIED = AUDIT_TABLES | {
    "django_session",
    "core_idempotencyrecord",
    "core_visitday",
    "deposits_account",
    # The budget's work list: the copied weeks count as transferred long ago, so only the core
    # week's own last payments wait (as a live service's list holds a day or two).
    "deposits_paymentawaitingbudget",
}
FIELDS = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "ip",
    "event_hash",
)


def _rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _foreign_keys(table: str) -> dict[str, str]:
    """column → referenced table."""
    return dict(
        _rows(
            """
            SELECT a.attname, c.confrelid::regclass::text
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
            WHERE c.contype = 'f' AND c.conrelid = %s::regclass
            """,
            [table],
        )
    )


def _unique_text_columns(table: str) -> set[str]:
    """Text columns unique on their own (a unique index on that column alone)."""
    return {
        row[0]
        for row in _rows(
            """
            SELECT a.attname
            FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indnkeyatts = 1
              AND a.atttypid IN ('text'::regtype, 'varchar'::regtype)
            """,
            [table],
        )
    }


def _order(tables: list[str]) -> list[str]:
    """Referenced tables first."""
    done: list[str] = []
    pending = list(tables)
    while pending:
        for table in pending:
            refs = set(_foreign_keys(table).values()) & set(pending)
            if refs <= {table}:
                done.append(table)
                pending.remove(table)
                break
        else:
            raise SystemExit(f"reference cycle among {pending}")
    return done


class Grower:
    def __init__(self, facts: dict, copies: int) -> None:
        self.before = facts["before"]
        self.after = facts["after"]
        self.copies = copies
        self.tables = [
            t for t in self.after if self.after[t] > self.before.get(t, 0) and t not in NOT_COPIED
        ]
        self.stride = {t: self.after[t] - self.before.get(t, 0) for t in self.tables}

    def off(self, table: str) -> str:
        return f"(g.k::bigint * {self.stride[table]})"

    def shift(self) -> str:
        # Copy 1 is the oldest: it lies `copies` weeks before the core week.
        return f"(({self.copies} + 1 - g.k) * {CORE_DAYS})"

    def expression(self, table: str, column: str, kind: str, refs: dict, uniques: set) -> str:
        col = f't."{column}"'
        special = self.special(table, column)
        if special:
            return special
        if column == "id":
            return f"{col} + {self.off(table)}"
        if column in refs and refs[column] in self.stride:
            ref = refs[column]
            return (
                f"CASE WHEN {col} > {self.before.get(ref, 0)} "
                f"THEN {col} + {self.off(ref)} ELSE {col} END"
            )
        if kind == "timestamp with time zone":
            return f"{col} - make_interval(days => {self.shift()})"
        if kind == "date":
            return f"{col} - {self.shift()}"
        if column in uniques:
            return f"{col} || '~' || g.k"
        return col

    def special(self, table: str, column: str) -> str | None:
        col = f't."{column}"'
        if table == "receipts_receipt" and column == "number":
            year = (
                "to_char((t.transferred_at - make_interval(days => "
                f"{self.shift()})) AT TIME ZONE 'Asia/Almaty', 'YYYY')"
            )
            serial = f"split_part({col}, '-', 3)::bigint + {self.off('fees_budgetbatchline')}"
            return f"'R-' || {year} || '-' || lpad(({serial})::text, 7, '0')"
        if table == "receipts_receipt" and column == "verification_code":
            return "(SELECT c.code FROM scale_codes c WHERE c.k = g.k AND c.id = t.id)"
        if column == "reference_id" and table in ("deposits_transfer", "deposits_hold"):
            booking = self.off("bookings_booking")
            return (
                f"CASE WHEN t.reference_type = 'booking' "
                f"THEN ({col}::bigint + {booking})::text ELSE {col} END"
            )
        return None

    def copy_table(self, table: str) -> int:
        columns = _rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        refs = _foreign_keys(table)
        uniques = _unique_text_columns(table)
        names = ", ".join(f'"{name}"' for name, _kind in columns)
        exprs = ",\n       ".join(
            self.expression(table, name, kind, refs, uniques) for name, kind in columns
        )
        sql = (
            f'INSERT INTO "{table}" ({names})\n'
            f"SELECT {exprs}\n"
            f'FROM "{table}" t, generate_series(1, {self.copies}) AS g(k)\n'
            f"WHERE t.id > {self.before.get(table, 0)} AND t.id <= {self.after[table]}\n"
            "ORDER BY g.k, t.id"
        )
        return _execute(sql)

    def receipt_codes(self) -> None:
        _execute("CREATE TEMP TABLE scale_codes (k int, id bigint, code text, PRIMARY KEY (k, id))")
        if "receipts_receipt" not in self.stride:
            return
        ids = [
            row[0]
            for row in _rows(
                "SELECT id FROM receipts_receipt WHERE id > %s AND id <= %s",
                [self.before.get("receipts_receipt", 0), self.after["receipts_receipt"]],
            )
        ]
        with connection.cursor() as cursor, cursor.copy("COPY scale_codes FROM STDIN") as copy:
            for k in range(1, self.copies + 1):
                for pk in ids:
                    copy.write_row((k, pk, new_verification_code()))

    def copy_audit(self) -> tuple[int, int]:
        """The week's audit events, copied with their hashes recomputed, and sealed."""
        low, high = self.before["core_auditevent"], self.after["core_auditevent"]
        stride = high - low
        template = list(
            AuditEvent.objects.filter(id__gt=low, id__lte=high)
            .order_by("id")
            .values_list(*FIELDS[:-1])
        )
        moved = {}
        for model in apps.get_models():
            table = model._meta.db_table
            if table in self.stride:
                moved[model._meta.label_lower] = (self.before.get(table, 0), self.stride[table])
        head = AuditBatch.objects.order_by("-number").first()
        previous = head.batch_hash if head else audit.GENESIS_HASH
        number = head.number if head else 0
        batch_id = _rows("SELECT coalesce(max(id), 0) FROM core_auditbatch")[0][0]
        size = settings.AUDIT_SEAL_BATCH_SIZE
        events = batches = 0
        for k in range(1, self.copies + 1):
            shift = dt.timedelta(days=(self.copies + 1 - k) * CORE_DAYS)
            rows = []
            for row in template:
                pk, occurred, actor, label, action, otype, oid, orepr, before, after, ip = row
                if otype in moved and oid.isdigit() and int(oid) > moved[otype][0]:
                    oid = str(int(oid) + k * moved[otype][1])
                    if action == "booking.created" and isinstance(after, dict):
                        after = {**after, "number": booking_number(int(oid))}
                event = types.SimpleNamespace(
                    id=pk + k * stride,
                    occurred_at=occurred - shift,
                    actor_id=actor,
                    actor_label=label,
                    action=action,
                    object_type=otype,
                    object_id=oid,
                    object_repr=orepr,
                    before=before,
                    after=after,
                    ip=ip,
                )
                event.event_hash = audit.compute_event_hash(event)
                rows.append(event)
            with connection.cursor() as cursor:
                columns = ", ".join(FIELDS)
                with cursor.copy(f"COPY core_auditevent ({columns}) FROM STDIN") as copy:
                    for e in rows:
                        copy.write_row(
                            (
                                e.id,
                                e.occurred_at,
                                e.actor_id,
                                e.actor_label,
                                e.action,
                                e.object_type,
                                e.object_id,
                                e.object_repr,
                                None if e.before is None else json.dumps(e.before),
                                None if e.after is None else json.dumps(e.after),
                                e.ip,
                                e.event_hash,
                            )
                        )
                batch_rows, seal_rows = [], []
                for start in range(0, len(rows), size):
                    chunk = rows[start : start + size]
                    root = audit.merkle_root([audit.leaf_hash(e.id, e.event_hash) for e in chunk])
                    root_hex = root.hex()
                    batch_hash = audit.chain_hash(previous, root_hex)
                    number += 1
                    batch_id += 1
                    sealed_at = chunk[-1].occurred_at + dt.timedelta(seconds=5)
                    batch_rows.append(
                        (batch_id, number, previous, root_hex, batch_hash, len(chunk), sealed_at)
                    )
                    seal_rows += [(e.id, batch_id, pos) for pos, e in enumerate(chunk)]
                    previous = batch_hash
                with cursor.copy(
                    "COPY core_auditbatch (id, number, previous_hash, merkle_root, batch_hash, "
                    "event_count, sealed_at) FROM STDIN"
                ) as copy:
                    for row in batch_rows:
                        copy.write_row(row)
                with cursor.copy(
                    "COPY core_auditseal (event_id, batch_id, position) FROM STDIN"
                ) as copy:
                    for row in seal_rows:
                        copy.write_row(row)
            events += len(rows)
            batches += len(batch_rows)
        return events, batches

    def finish(self) -> None:
        # Carrier accounts keep a running balance: set it to what their transfers now give.
        _execute(
            """
            UPDATE deposits_account a
            SET balance = coalesce((SELECT sum(amount) FROM deposits_transfer
                                    WHERE credit_id = a.id), 0)
                        - coalesce((SELECT sum(amount) FROM deposits_transfer
                                    WHERE debit_id = a.id), 0)
            WHERE a.carrier_id IS NOT NULL
            """
        )
        for table in [*self.tables, "core_auditevent", "core_auditbatch"]:
            _execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f'(SELECT max(id) FROM "{table}"))'
            )

    def run(self) -> dict:
        counts = {}
        with transaction.atomic():
            self.receipt_codes()
            for table in _order(self.tables):
                started = time.monotonic()
                counts[table] = self.copy_table(table)
                say(f"  {table}: {counts[table]} rows ({time.monotonic() - started:.0f} s)")
            started = time.monotonic()
            events, batches = self.copy_audit()
            counts["core_auditevent"] = events
            counts["core_auditbatch"] = batches
            took = time.monotonic() - started
            say(f"  audit: {events} events in {batches} batches ({took:.0f} s)")
            self.finish()
        return counts


def main() -> None:
    facts = json.loads(Path(sys.argv[1]).read_text())
    copies = int(sys.argv[2])
    counts = Grower(facts, copies).run()
    say("VACUUM ANALYZE")
    connection.cursor().execute("VACUUM ANALYZE")
    print("FACTS " + json.dumps(counts))


if __name__ == "__main__":
    main()
