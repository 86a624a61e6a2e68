from core.management.jobs import JobCommand
from fees.services import budget_transfer_make, overdue_payments


class Command(JobCommand):
    help = (
        "Transfer the fees and forfeited deposits not yet transferred to the state budget, one "
        "batch per budget code, and record the payment orders (P4). Reports payments past their "
        "3-working-day deadline."
    )

    def handle(self, *args, **options):
        as_of = self.as_of(options)
        batches = budget_transfer_make(as_of=as_of)
        for batch in batches:
            self.stdout.write(
                f"{batch.payment_order_number}: {batch.line_count} payments, {batch.total} KZT "
                f"to KBK {batch.budget_code}"
            )
        if not batches:
            self.stdout.write("nothing to transfer")
        late = overdue_payments(as_of=as_of)
        if late:
            self.stderr.write(f"{len(late)} payments are past their transfer deadline")
