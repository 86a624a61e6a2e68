from auth2fa.services import unconfirmed_registrations_lapse
from core.management.jobs import JobCommand


class Command(JobCommand):
    help = "Registrations left unconfirmed for 24 hours lapse and block nothing (A7)."

    def handle(self, *args, **options):
        lapsed = unconfirmed_registrations_lapse(as_of=self.as_of(options))
        self.stdout.write(f"{lapsed} registrations lapsed")
