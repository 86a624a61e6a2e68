from checkpoint_queue.services import not_crossed_sweep
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = (
        "Close vehicles arrived or called but neither crossed nor refused a day after their "
        "check-in window as not crossed (Q8): deposit released, no strike, shown to operators. "
        "Safe to run again or in parallel."
    )

    def handle(self, *args, **options):
        closed = not_crossed_sweep(as_of=self.as_of(options))
        self.stdout.write(f"{closed} bookings closed as not crossed")
