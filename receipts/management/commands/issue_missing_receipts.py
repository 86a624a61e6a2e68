from django.core.management.base import BaseCommand, CommandError

from fees.models import BudgetBatch
from receipts.services import receipts_issue_for_batch, receipts_issue_missing


class Command(BaseCommand):
    help = (
        "Issue the receipts (P5) of payments already transferred to the state budget that have "
        "none: batches made while the worker was down, or before receipts existed. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", type=int, help="only this budget batch (its id), not every batch"
        )

    def handle(self, *args, **options):
        if options["batch"] is not None:
            if not BudgetBatch.objects.filter(pk=options["batch"]).exists():
                raise CommandError(f"No budget batch has the id {options['batch']}.")
            issued = receipts_issue_for_batch(batch_id=options["batch"])
            self.stdout.write(f"{issued} receipts issued")
            return
        counts = receipts_issue_missing()
        self.stdout.write(
            f"{counts['receipts']} receipts issued for {counts['batches']} batches"
            if counts["batches"]
            else "no receipts missing"
        )
