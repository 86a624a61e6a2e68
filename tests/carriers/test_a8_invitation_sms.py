"""A8: nothing anyone types reaches a third party's phone unchecked. An invitation sends one SMS:
its text has nothing the inviter chose, it goes only to the allowed country codes, and it counts
against limits per phone, per carrier and per address."""

import datetime as dt

import pytest
from django.test import Client

from carriers import services
from carriers.models import Carrier, Invitation, Member
from core.errors import ApplicationError
from tests.auth2fa.factories import registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
VICTIM = "+77019999999"
PHISHING = "URGENT: your account is blocked, pay the fine at http://evil.example/ now"


@pytest.fixture
def owner(fake_twilio, clock):
    person = registered_person(fake_twilio, name=PHISHING)
    fake_twilio.messages.clear()
    return person


def owner_of_another_carrier(fake_twilio):
    """A second carrier's owner (their own IIN/BIN, phone and e-mail)."""
    person = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="stranger@other.kz",
        name="Other Carrier",
    )
    fake_twilio.messages.clear()
    return person


def invite(owner, phone=VICTIM, role="dispatcher"):
    return services.member_invite(by=Member.objects.get(user=owner), phone=phone, role=role)


def sms_to(fake_twilio, phone=VICTIM) -> list[str]:
    return [m["Body"] for m in fake_twilio.messages if m["To"] == phone]


def test_a8_the_invitation_sms_carries_no_text_chosen_by_the_inviter(owner, fake_twilio, english):
    assert Carrier.objects.get(members__user=owner).name == PHISHING
    issued = invite(owner, role="accountant")
    [body] = sms_to(fake_twilio)
    assert body == f"You are invited to act for a carrier in Kezek as Accountant: {issued.link}"
    assert "evil" not in body and "URGENT" not in body


def test_a8_the_invitation_page_shows_who_invites(owner, fake_twilio, settings, english):
    issued = invite(owner)
    page = Client().get(issued.link.removeprefix(settings.SITE_URL), **EN)
    assert page.status_code == 200
    assert "invites you to act for it in Kezek" in page.content.decode()


def test_a8_forty_invitations_to_one_number_send_at_most_three_sms(owner, fake_twilio, english):
    refusals = []
    for _ in range(40):
        try:
            invite(owner)
        except ApplicationError as refusal:
            refusals.append(refusal)
    assert len(sms_to(fake_twilio)) == 3
    assert Invitation.objects.filter(phone=VICTIM).count() == 3
    assert len(refusals) == 37
    refusal = refusals[0]
    assert (refusal.code, refusal.status) == ("too_many_invitations", 429)
    assert refusal.message == (
        "This phone number got too many invitations in the last 24 hours. Try again in 24 h."
    )
    assert refusal.retry_after == 24 * 3600


def test_a8_the_per_phone_limit_counts_every_inviter(owner, fake_twilio, english):
    other = owner_of_another_carrier(fake_twilio)
    invite(owner)
    invite(other)
    invite(owner)
    with pytest.raises(ApplicationError) as refusal:
        invite(other)
    assert refusal.value.code == "too_many_invitations"
    assert len(sms_to(fake_twilio)) == 3


def test_a8_the_per_phone_limit_frees_up_after_24_hours(owner, fake_twilio, clock, english):
    for _ in range(3):
        invite(owner)
        clock.shift(dt.timedelta(hours=1))
    with pytest.raises(ApplicationError) as refusal:
        invite(owner)
    assert refusal.value.retry_after == 21 * 3600
    clock.shift(dt.timedelta(hours=21, seconds=1))
    invite(owner)
    assert len(sms_to(fake_twilio)) == 4


def test_a8_a_carrier_sends_at_most_twenty_invitations_a_day(owner, fake_twilio, english):
    for number in range(20):
        invite(owner, phone=f"+7701200{number:04d}")
    with pytest.raises(ApplicationError) as refusal:
        invite(owner, phone="+77013000000")
    assert (refusal.value.code, refusal.value.status) == ("too_many_invitations", 429)
    assert refusal.value.message.startswith("Your carrier sent too many invitations")
    assert len(fake_twilio.messages) == 20
    assert not Invitation.objects.filter(phone="+77013000000").exists()


def test_a8_the_invitation_limits_are_settings(owner, fake_twilio, settings, english):
    settings.INVITATION_SMS_PER_PHONE_PER_DAY = 1
    settings.INVITATION_SMS_PER_CARRIER_PER_DAY = 2
    invite(owner)
    with pytest.raises(ApplicationError):
        invite(owner)
    invite(owner, phone="+77012000001")
    with pytest.raises(ApplicationError) as refusal:
        invite(owner, phone="+77012000002")
    assert refusal.value.message.startswith("Your carrier")
    assert len(fake_twilio.messages) == 2


@pytest.mark.parametrize(
    "phone", ["+14155550100", "+447700900123", "+380501234567", "+9955551234567"]
)
def test_a8_an_invitation_to_a_country_outside_the_allowed_list_is_refused(
    owner, fake_twilio, english, phone
):
    with pytest.raises(ApplicationError) as refusal:
        invite(owner, phone=phone)
    assert refusal.value.code == "validation_error"
    assert refusal.value.fields == {"phone": ["Kezek does not send invitations to this country."]}
    assert "+7, +996, +998, +86, +993" in refusal.value.message
    assert not fake_twilio.messages and not Invitation.objects.exists()


@pytest.mark.parametrize(
    "phone",
    ["+77012345678", "+79161234567", "+996555123456", "+998901234567", "+8613812345678"],
)
def test_a8_an_invitation_to_an_allowed_country_goes(owner, fake_twilio, phone):
    assert invite(owner, phone=phone).sms_sent
    assert len(sms_to(fake_twilio, phone)) == 1


def test_a8_the_allowed_country_codes_are_a_setting(owner, fake_twilio, settings):
    settings.SMS_ALLOWED_COUNTRY_CODES = ["7"]
    with pytest.raises(ApplicationError):
        invite(owner, phone="+996555123456")
    assert invite(owner, phone="+77012345678").sms_sent


def test_a8_the_members_page_shows_the_refusals(owner, fake_twilio, sign_in_browser, english):
    browser = sign_in_browser(Client(), owner)
    page = browser.post(
        "/cabinet/members/",
        {"action": "invite", "phone": "+1 415 555 0100", "role": "dispatcher"},
        **EN,
    ).content.decode()
    assert "Kezek does not send invitations to this country." in page
    for _ in range(3):
        browser.post("/cabinet/members/", {"action": "invite", "phone": VICTIM, "role": "owner"})
    page = browser.post(
        "/cabinet/members/", {"action": "invite", "phone": VICTIM, "role": "owner"}, **EN
    ).content.decode()
    assert "This phone number got too many invitations in the last 24 hours." in page
    assert len(sms_to(fake_twilio)) == 3


def test_a8_inviting_is_limited_per_address(owner, fake_twilio, sign_in_browser, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "registration": "2/hour",
        },
    }
    browser = sign_in_browser(Client(), owner)
    for number in range(2):
        response = browser.post(
            "/cabinet/members/",
            {"action": "invite", "phone": f"+7701200000{number}", "role": "dispatcher"},
        )
        assert response.status_code == 302
    response = browser.post(
        "/cabinet/members/",
        {"action": "invite", "phone": "+77012000009", "role": "dispatcher"},
        **EN,
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert len(fake_twilio.messages) == 2
    # Reading the page and changing roles are not counted.
    assert browser.get("/cabinet/members/").status_code == 200
    me = Member.objects.get(user=owner)
    response = browser.post(
        "/cabinet/members/", {"action": "role", "member": me.pk, "role": "owner"}
    )
    assert response.status_code == 302
