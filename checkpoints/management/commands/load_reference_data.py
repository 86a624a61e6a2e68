from django.core.management.base import BaseCommand

from checkpoints.services import reference_checkpoints_load
from fees.services import reference_fees_load


class Command(BaseCommand):
    help = (
        "Load countries, checkpoints (R1), MRP by year (R2) and the fee schedule (R3). "
        "Rows already present are kept as operators left them unless --overwrite."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--overwrite",
            action="store_true",
            help="Replace values of existing rows with the shipped data.",
        )

    def handle(self, *args, overwrite: bool = False, **options):
        checkpoints = reference_checkpoints_load(overwrite=overwrite)
        fees = reference_fees_load(overwrite=overwrite)
        for name, counts in (("countries and checkpoints", checkpoints), ("MRP and fees", fees)):
            self.stdout.write(
                f"{name}: {counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged"
            )
