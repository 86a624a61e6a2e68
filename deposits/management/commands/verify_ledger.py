from django.core.management.base import BaseCommand, CommandError

from deposits.selectors import ledger_check


class Command(BaseCommand):
    help = (
        "Recompute every balance from the transfers; check that they add up to zero and that "
        "every deposit hold is open or resolved once (P6). Exits 1 on any difference."
    )

    def handle(self, *args, **options):
        report = ledger_check()
        self.stdout.write(
            f"checked {report.accounts_checked} accounts and {report.transfers} transfers; "
            f"balances add up to {report.total}"
        )
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"ledger is NOT consistent: {len(report.problems)} problem(s)")
        self.stdout.write(self.style.SUCCESS("ledger consistent"))
