from bookings.services import expire_holds
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = "Free the places of slot holds whose 15 minutes have passed (C5)."

    def handle(self, *args, **options):
        freed = expire_holds(as_of=self.as_of(options))
        self.stdout.write(f"freed {freed} lapsed holds")
