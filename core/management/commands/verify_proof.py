from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core import proofs


class Command(BaseCommand):
    help = (
        "Check an audit proof file (W6, docs/proofs.md): every event's content against its hash, "
        "its Merkle path to its batch, the chain of batches to the daily head, and the head "
        "against the one published here (--offline: the file alone). Exits 1 with the reason "
        "when the proof is not valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the proof, a JSON file")
        parser.add_argument(
            "--offline",
            action="store_true",
            help="check the file alone, without this portal's published heads: compare the "
            "head hashes it prints with the published ones yourself",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            with path.open("rb") as file:
                raw = file.read(proofs.MAX_PROOF_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            document = proofs.load_proof(raw)
        except proofs.ProofError as exc:
            raise CommandError(f"NOT valid: {exc.message}") from exc
        published = None if options["offline"] else proofs.published_head_hash
        check = proofs.verify_proof(document, published=published)
        if not check.valid:
            # CommandError: manage.py exits 1, so a script sees the failure.
            raise CommandError(f"NOT valid: {check.problem}")
        self._report(check)

    def _report(self, check: proofs.ProofCheck) -> None:
        subject = check.subject
        label = f" ({subject['label']})" if subject["label"] else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"valid: the proof of {subject['object_type']} {subject['object_id']}{label} "
                "checks out"
            )
        )
        self.stdout.write(f"{len(check.proven)} event(s) proven in published daily heads:")
        for head in check.heads:
            how = (
                "the same as published here"
                if head.compared
                else "compare it with the published head (GET /api/v1/audit/heads/"
                f"{head.day.isoformat()})"
            )
            self.stdout.write(
                f"  head of {head.day.isoformat()}: batch #{head.batch_number} "
                f"{head.batch_hash}, {how}"
            )
            for event in check.proven:
                if event.head_day == head.day:
                    self.stdout.write(
                        f"    event #{event.id} {_when(event.occurred_at)} {event.action} "
                        f"(batch #{event.batch_number})"
                    )
        if not check.pending:
            return
        self.stdout.write(
            f"{len(check.pending)} event(s) not in a published head yet (their content matches "
            "their hash; the next daily head will prove them):"
        )
        for event in check.pending:
            where = (
                f"sealed in batch #{event.batch_number}"
                if event.state == proofs.PENDING_SEALED
                else "not sealed yet"
            )
            self.stdout.write(
                f"    event #{event.id} {_when(event.occurred_at)} {event.action}: {where}"
            )


def _when(moment) -> str:
    return moment.isoformat() if hasattr(moment, "isoformat") else str(moment)
