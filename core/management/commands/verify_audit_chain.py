from django.core.management.base import BaseCommand, CommandError

from core import audit


class Command(BaseCommand):
    help = (
        "Recompute the audit events' hashes, the batches' Merkle roots and the chain of batches "
        "from where the last intact check reached (--full: from the first batch); report the "
        "first break and events left unsealed too long (A6). An intact check is recorded in the "
        "chain, and the next one starts there. Exits 1 on any problem."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--full",
            action="store_true",
            help="check the whole chain, not only what came since the last intact check",
        )

    def handle(self, *args, **options):
        report = audit.verify_chain(since_verified=not options["full"], progress=self.stdout.write)
        start = f" after batch #{report.after_batch}" if report.after_batch else ""
        self.stdout.write(
            f"checked {report.events_checked} events in {report.batches_checked} batches{start}"
        )
        problems = list(report.problems)
        if report.unsealed_overdue:
            count = report.unsealed_overdue
            problems.append(
                f"{count} event{'s' if count != 1 else ''} waited more than "
                f"{report.unsealed_grace_seconds} s to be sealed, the oldest #"
                f"{report.oldest_unsealed_id} (is the worker running seal_audit?)"
            )
        if problems:
            # CommandError: `manage.py` exits non-zero, so cron and CI see the break.
            raise CommandError("audit chain is NOT intact: " + "; ".join(problems))
        audit.chain_verified_record(report)
        self.stdout.write(self.style.SUCCESS("audit chain intact"))
