import itertools

import pytest
from django.test import Client
from django.utils import translation

from carriers.models import Carrier, Member


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted in their English source; the site's default language is Russian."""
    with translation.override("en"):
        yield


@pytest.fixture
def make_member(django_user_model):
    """`make_member(role, carrier=None)`: a person acting for a carrier (a new one by default)."""
    numbers = itertools.count(1)

    def make(role: str = "owner", carrier: Carrier | None = None) -> Member:
        n = next(numbers)
        if carrier is None:
            carrier = Carrier.objects.create(
                kind=Carrier.Kind.COMPANY, iin_bin=f"{n:012d}", name=f"Carrier {n} LLP"
            )
        user = django_user_model.objects.create_user(
            f"person{n}@carrier.kz", "a-long-passphrase", full_name=f"Person {n}"
        )
        return Member.objects.create(carrier=carrier, user=user, role=role)

    return make


@pytest.fixture
def owner(make_member):
    return make_member("owner")


@pytest.fixture
def dispatcher(make_member, owner):
    return make_member("dispatcher", carrier=owner.carrier)


@pytest.fixture
def accountant(make_member, owner):
    return make_member("accountant", carrier=owner.carrier)


@pytest.fixture
def stranger(make_member):
    """The owner of another carrier."""
    return make_member("owner")


@pytest.fixture
def api_client():
    """`api_client(member)`: a test client sending that person's bearer token."""
    from auth2fa.models import ApiToken
    from auth2fa.services import api_token_issue

    def make(member: Member) -> Client:
        secret = api_token_issue(user=member.user, kind=ApiToken.Kind.PERSONAL).secret
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")

    return make
