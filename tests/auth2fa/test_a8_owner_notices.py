"""A4 / A8: every owner of the carrier is told when one of its people makes a personal API
token — a dispatcher, or a thief with a session, must not make one unnoticed. The text names the
maker by role only: the token's name and the maker's name are typed by a person."""

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from auth2fa.models import ApiToken
from auth2fa.services import api_token_issue
from carriers.models import Member
from core.money import format_tenge
from deposits.services import refund_request
from notify.models import Message
from tests.auth2fa.factories import person_without_membership
from tests.notify.owners import (
    HOSTILE_NAME,
    JOINER_NAME,
    SECOND_OWNER_CHAT,
    joined,
    member_of,
    second_owner,
)

pytestmark = pytest.mark.django_db

TOKEN_TEXT = (
    "Kezek: a new API token was made by a member of your carrier with the role {role}. "
    "Not expected? Check the security page."
)


@pytest.fixture
def owner(world):
    """The world's owner, reading English (with SMS to the confirmed phone)."""
    user = world.member.user
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def test_a8_the_owners_are_told_of_a_new_api_token(
    world, owner, english, fake_telegram, eager, commit
):
    other_owner = second_owner(world, language="en")
    dispatcher = member_of(world, Member.Role.DISPATCHER)
    with commit():
        api_token_issue(user=dispatcher.user, kind=ApiToken.Kind.PERSONAL, name=HOSTILE_NAME)
    told = {m.recipient_id: m for m in Message.objects.filter(kind="api_token_created")}
    assert set(told) == {owner.pk, other_owner.pk}  # the owners, not the dispatcher
    expected = TOKEN_TEXT.format(role="dispatcher")
    assert [(m.status, m.language, m.body) for m in told.values()] == [
        ("sent", "en", expected),
        ("sent", "en", expected),
    ]
    assert [m["Body"] for m in world.fake_twilio.messages] == [expected]
    assert world.fake_twilio.messages[0]["To"] == owner.phone
    assert fake_telegram.texts_to(SECOND_OWNER_CHAT) == [expected]
    assert all("Call" not in m.body and "EVIL" not in m.body for m in told.values())


def test_a8_an_owners_new_api_token_is_told_to_the_owner_too(world, owner, english, eager, commit):
    # A stolen owner's session is the case that matters: the owner hears of their own token.
    with commit():
        api_token_issue(user=owner, kind=ApiToken.Kind.PERSONAL, name="ERP")
    message = Message.objects.get(kind="api_token_created")
    assert (message.recipient, message.status) == (owner, "sent")
    assert message.body == TOKEN_TEXT.format(role="owner")


def test_a8_sign_in_tokens_and_people_of_no_carrier_tell_nobody(
    world, owner, english, eager, commit
):
    outsider = person_without_membership(world.fake_twilio)
    with commit():
        api_token_issue(user=owner, kind=ApiToken.Kind.SIGN_IN)
        api_token_issue(user=outsider, kind=ApiToken.Kind.PERSONAL, name="mine")
    assert not Message.objects.exists()
    assert world.fake_twilio.messages == []


# --- The security page lists them for an owner ----------------------------------------------------


def test_a8_the_security_page_shows_an_owner_the_recent_changes_to_the_carrier(
    world, owner, english, clock, sign_in_browser
):
    world.top_up("10000.00")
    accountant = member_of(world, Member.Role.ACCOUNTANT)
    refund_request(
        carrier=world.carrier,
        amount=Decimal("2500.50"),
        iban="KZ86125KZT5004100100",
        requested_by=accountant.user,
    )
    clock.shift(dt.timedelta(minutes=5))
    api_token_issue(user=accountant.user, kind=ApiToken.Kind.PERSONAL, name="ERP")
    api_token_issue(user=accountant.user, kind=ApiToken.Kind.SIGN_IN)  # not listed
    clock.shift(dt.timedelta(minutes=5))
    joined(world, Member.Role.DISPATCHER)

    page = sign_in_browser(Client(), owner).get(reverse("security"), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "Recent changes to your carrier" in html
    section = html[html.index("Recent changes to your carrier") :]
    items = [
        item.split("</time> — ", 1)[1].split("</li>", 1)[0] for item in section.split("<li>")[1:]
    ]
    assert items == [
        f"{JOINER_NAME} joined as dispatcher.",
        f"API token made by {HOSTILE_NAME} (accountant).",
        f"Refund of {format_tenge(Decimal('2500.50'))} to the account ending 0100 asked for by "
        f"{HOSTILE_NAME} (accountant).",
    ]


def test_a8_the_security_page_lists_no_carrier_changes_for_other_members(
    world, english, sign_in_browser
):
    dispatcher = member_of(world, Member.Role.DISPATCHER)
    page = sign_in_browser(Client(), dispatcher.user).get(
        reverse("security"), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert page.status_code == 200
    assert "Recent changes to your carrier" not in page.content.decode()
