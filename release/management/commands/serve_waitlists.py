from django.core.management.base import BaseCommand

from release.services import waitlists_serve


class Command(BaseCommand):
    help = (
        "Offer the places kept for drawn days' waitlists to their waiting requests in rank "
        "order (F7); what a task queued at the freeing commit would have done."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"{waitlists_serve()} requests booked from the waitlists")
