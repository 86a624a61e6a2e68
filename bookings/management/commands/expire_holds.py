from bookings.services import slot_holds_expire
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = "Free the places of slot holds whose 15 minutes have passed (C5)."

    def handle(self, *args, **options):
        freed = slot_holds_expire(as_of=self.as_of(options))
        self.stdout.write(f"freed {freed} lapsed holds")
