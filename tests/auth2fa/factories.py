"""People and carriers ready to sign in, made through the real services."""

import datetime as dt

from auth2fa.models import User
from auth2fa.services import registration_create, registration_verify
from carriers.models import Member

PASSWORD = "correct horse battery"
# The moment sign-in tests start from (tests/auth2fa/conftest.py freezes the clock there).
T0 = dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC)


def registered_person(
    fake_twilio,
    *,
    iin_bin: str = "230140012340",
    iin: str = "850512300119",
    phone: str = "+77011234567",
    email: str = "aigerim@steppe.kz",
    name: str = "Steppe Freight LLP",
) -> User:
    """A carrier's owner whose phone is confirmed: password + SMS work."""
    registration = registration_create(
        carrier_kind="company",
        carrier_iin_bin=iin_bin,
        carrier_name=name,
        full_name="Aigerim Nurlanovna",
        iin=iin,
        phone=phone,
        email=email,
        password=PASSWORD,
    )
    code = fake_twilio.codes_sent_to(phone)[-1]
    registration_verify(phone=phone, code=code)
    fake_twilio.messages.clear()
    registration.user.refresh_from_db()
    return registration.user


def person_without_membership(fake_twilio) -> User:
    """A second person (their own phone, IIN and e-mail) registered with a carrier of their own
    and then taken out of it: signed up, acting for no carrier."""
    person = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="dispatcher@steppe.kz",
        name="Other Carrier",
    )
    Member.objects.filter(user=person).delete()
    return person
