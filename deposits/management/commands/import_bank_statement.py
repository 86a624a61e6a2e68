from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from deposits.models import StatementEntry
from deposits.services import bank_statement_import
from deposits.statements import MAX_STATEMENT_BYTES


class Command(BaseCommand):
    help = (
        "Import a bank statement of the registrar's account (camt.053 XML or the bank's CSV): "
        "credit each payment to the personal account its details name, park the others for an "
        "operator (P1). Importing a file again credits nothing new. Exits 1 when the file is "
        "refused (unreadable, or for another account than REGISTRAR_IBAN)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the statement file (camt.053 .xml or .csv)")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            with path.open("rb") as statement_file:
                # One byte over the limit is enough for the parser to refuse the file.
                data = statement_file.read(MAX_STATEMENT_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        try:
            statement_import = bank_statement_import(data=data, filename=path.name)
        except ApplicationError as refusal:
            raise CommandError(f"{path.name}: {refusal.message}") from refusal

        self.stdout.write(
            f"{statement_import.credited} credited, "
            f"{statement_import.already_imported} already imported, "
            f"{statement_import.parked} parked, "
            f"{statement_import.skipped} skipped"
        )
        parked = statement_import.entries.filter(status=StatementEntry.Status.PARKED).order_by("pk")
        for entry in parked:
            self.stdout.write(
                f"  parked {entry.bank_reference}: {entry.amount} {entry.currency} — "
                f"{entry.get_park_reason_display()}"
            )
