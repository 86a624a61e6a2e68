from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from carriers.services import DEMO_OPERATOR, DEMO_OWNER, demo_data_load


class Command(BaseCommand):
    help = "Create a demo registrar operator and a demo carrier with its owner (idempotent)."

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
        self.stdout.write(
            f"demo carrier: {demo['carrier']}\n"
            f"  operator (admin): {DEMO_OPERATOR['email']} / {DEMO_OPERATOR['password']}\n"
            f"  carrier owner:    {DEMO_OWNER['email']} / {DEMO_OWNER['password']}"
        )
