from django.core.management.base import BaseCommand, CommandError

from deposits.services import ledger_verify


class Command(BaseCommand):
    help = (
        "Check the ledger from the point the last consistent check reached (--full: every "
        "balance from the first transfer): stored balances match their transfers, balances add "
        "up to zero, every deposit hold is open or resolved once, no payment waiting for the "
        "budget was transferred or refunded (P6). A consistent check is recorded, and the next "
        "one starts there. Exits 1 on any difference."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="recompute every balance from all transfers, not only the transfers since the "
            "last consistent check",
        )

    def handle(self, *args, **options):
        report = ledger_verify(full=options["full"], progress=self.stdout.write)
        if report.full:
            self.stdout.write(
                f"checked {report.accounts_checked} accounts and {report.transfers} transfers "
                f"(full); balances add up to {report.total}"
            )
        else:
            self.stdout.write(
                f"checked {report.transfers} transfers since #{report.since_transfer} "
                f"(incremental) and the {report.accounts_checked} accounts they touched"
            )
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            # CommandError: `manage.py` exits 1, so cron and CI see it.
            raise CommandError(f"ledger is NOT consistent: {len(report.problems)} problem(s)")
        self.stdout.write(
            self.style.SUCCESS(
                f"ledger consistent; verified through transfer #{report.through_transfer}"
            )
        )
