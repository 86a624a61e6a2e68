from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.services import ACCOUNTS, demo_data_load


class Command(BaseCommand):
    help = (
        "Load demo people of every role, a funded demo carrier with its fleet and bookings and a "
        "waiting area with trucks (idempotent), and print how to sign in."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load demo people even with DEBUG off (never on a production database).",
        )

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Demo people have well-known passwords: with DEBUG off, pass --force if you "
                "really mean it."
            )
        demo = demo_data_load()
        site = settings.SITE_URL.rstrip("/")
        write = self.stdout.write
        write(f"Demo data loaded: {demo.carrier.name} and the people below.")
        write(
            f"Sign in at {site}/signin/ with an e-mail and password; the SMS code then appears "
            "in this console in a framed block."
        )
        for account in ACCOUNTS:
            write(f"  {account.role}")
            write(f"      {account.email} / {account.password}    open {site}{account.open_first}")
        write("  The operator can also use a backup code instead of the SMS (each works once):")
        write("      " + "  ".join(demo.backup_codes))
        for note in demo.notes:
            write(self.style.WARNING(note))
