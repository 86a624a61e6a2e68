"""Helpers of the receipts tests: book, transfer to the budget, read PDFs, people and tokens."""

import datetime as dt
import io
import re

from pypdf import PdfReader

from bookings import services as bookings
from carriers.models import Member
from core import clock as kezek_clock
from fees.services import budget_transfer_make
from tests.auth2fa.factories import registered_person
from vehicles import services as fleet

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def slot_after(days: int = 2, hour: int = 9) -> dt.datetime:
    """A bookable slot `days` after the (frozen) current day, at `hour` Almaty time."""
    day = kezek_clock.local_today() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour), tzinfo=kezek_clock.ALMATY)


_vehicles = iter(range(10, 99))


def new_truck(world):
    """Another truck of the carrier (one active booking per vehicle and country, B6)."""
    n = next(_vehicles)
    return fleet.vehicle_register(
        member=world.member,
        plate=f"{n}7XYZ02",
        vin=f"XTA210990123456{n:02d}",
        kind="truck",
        registration_country="KZ",
    )


def book(world, *, vehicle=None, service="regular", start=None, **extra):
    return bookings.booking_create(
        member=world.member,
        request=bookings.BookingRequest(
            checkpoint_code="KORDAI",
            direction="exit",
            service=service,
            slot_start=start or slot_after(),
            vehicle_id=(vehicle or world.truck).pk,
            trailer_id=None,
            driver_ids=[world.drivers[0].pk],
            **extra,
        ),
    )


def transfer(commit):
    """The daily transfer to the budget, committed: the receipts task runs (eagerly)."""
    with commit():
        return budget_transfer_make()


def pdf_text(data: bytes) -> str:
    """The PDF's text with runs of white space (narrow no-break spaces too) made single spaces."""
    reader = PdfReader(io.BytesIO(bytes(data)))
    text = " ".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\s\u202f\u00a0]+", " ", text)


def person_of(world, fake_twilio, role: str, *, n: int):
    """Another person of the world's carrier with `role` (owner, dispatcher, accountant)."""
    iins = ["900101301005", "880202401004", "770303501007"]
    person = registered_person(
        fake_twilio,
        iin_bin=iins[n],
        iin=iins[n],
        phone=f"+7701555000{n}",
        email=f"{role}{n}@steppe.kz",
        name=f"Placeholder {n}",
    )
    Member.objects.filter(user=person).update(carrier=world.carrier, role=role)
    return person


def token_of(user) -> str:
    from auth2fa.models import ApiToken
    from auth2fa.services import api_token_issue

    return api_token_issue(user=user, kind=ApiToken.Kind.PERSONAL).secret


def api_get(client, token, path, **params):
    return client.get(path, params, HTTP_AUTHORIZATION=f"Bearer {token}", **EN)
