"""Create a registrar operator on a fresh deployment: the first person who can sign in to the
admin (README, "Deploying"). Later operators can be made the same way or in the admin.

Sign-in always takes two factors (A2). The operator's first factor is an EDS (the IIN of their
certificate) or, where PASSWORD_LOGIN is on, a password; the second is one of the backup codes
printed here once. After the first sign-in they add an authenticator app or a passkey on the
security page.
"""

import getpass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from auth2fa.roles import OPERATORS
from auth2fa.services import backup_codes_generate
from carriers.validators import is_valid_iin_bin
from core import audit


class Command(BaseCommand):
    help = "Create a registrar operator and print backup codes for the first sign-in."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--full-name", required=True)
        parser.add_argument("--iin", help="the IIN in the operator's EDS certificate")
        parser.add_argument(
            "--password",
            action="store_true",
            help="ask for a password (only useful where PASSWORD_LOGIN is on)",
        )
        parser.add_argument(
            "--superuser", action="store_true", help="every permission, beyond the operator role"
        )

    def handle(self, *args, **options):
        email = options["email"].strip().lower()
        iin = (options["iin"] or "").strip() or None
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an e-mail address") from exc
        if iin is not None and not is_valid_iin_bin(iin):
            raise CommandError(f"{iin!r} is not a valid IIN (12 digits with a check digit)")
        if iin is None and not (options["password"] and settings.PASSWORD_LOGIN):
            raise CommandError(
                "The operator needs a first factor: --iin for EDS sign-in"
                + ("" if not settings.PASSWORD_LOGIN else ", or --password")
                + "."
            )
        users = get_user_model().objects
        # Among confirmed people: an unconfirmed registration owns nothing it typed (A8).
        if users.confirmed().filter(email__iexact=email).exists():
            raise CommandError(f"{email} already has an account")
        if iin is not None and users.confirmed().filter(iin=iin).exists():
            raise CommandError(f"IIN {iin} already has an account")
        password = self._ask_password() if options["password"] else None
        with transaction.atomic():
            create = users.create_superuser if options["superuser"] else users.create_user
            user = create(
                email, password, full_name=options["full_name"].strip(), iin=iin, is_staff=True
            )
            user.groups.add(Group.objects.get(name=OPERATORS))
            audit.record(
                "auth.operator_created",
                target=user,
                after={"email": email, "superuser": bool(options["superuser"])},
            )
            codes = backup_codes_generate(user=user)
        self.stdout.write(f"operator {email} created (id {user.pk}).")
        self.stdout.write("Backup codes for the first sign-in, shown this once:")
        for code in codes:
            self.stdout.write(f"  {code}")
        self.stdout.write(
            "After signing in, add an authenticator app or a passkey at /account/security/."
        )

    def _ask_password(self) -> str:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The passwords differ.")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        return password
