from bookings.services import no_shows_sweep
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Mark confirmed bookings whose check-in window has ended as no-shows (D6); the deposit "
        "follows D3. Safe to run again or in parallel."
    )

    def handle(self, *args, **options):
        swept = no_shows_sweep(as_of=self.as_of(options))
        self.stdout.write(f"{swept} bookings marked as no-shows")
