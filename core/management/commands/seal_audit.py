from django.core.management.base import BaseCommand

from core import audit


class Command(BaseCommand):
    help = "Seal every audit event that has no seal yet into the hash chain (A6)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--recent-only",
            action="store_true",
            help="Look only near the newest sealed event, as the sealer every 5 s does.",
        )

    def handle(self, *args, **options):
        batches = audit.seal_all(full=not options["recent_only"])
        events = sum(batch.event_count for batch in batches)
        self.stdout.write(f"sealed {events} events in {len(batches)} batches")
