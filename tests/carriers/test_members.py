import datetime as dt

import pytest
import time_machine
from django.test import Client

from carriers import services
from carriers.models import Invitation, Member
from core.errors import ApplicationError
from core.models import AuditEvent
from tests.auth2fa.factories import person_without_membership, registered_person

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def owner(fake_twilio):
    return registered_person(fake_twilio)


@pytest.fixture
def other_person(fake_twilio):
    """A person without a membership: joining another carrier after leaving one's own is not
    possible, so the tests below invite this one."""
    return person_without_membership(fake_twilio)


def invite(owner, phone="+77017654321", role="dispatcher"):
    return services.member_invite(by=Member.objects.get(user=owner), phone=phone, role=role)


def token_of(fake_twilio, phone="+77017654321") -> str:
    body = [m["Body"] for m in fake_twilio.messages if m["To"] == phone][-1]
    return body.rstrip("/").rsplit("/", 1)[-1]


def test_owner_invites_by_phone_and_the_person_joins(owner, other_person, fake_twilio):
    issued = invite(owner)
    assert issued.sms_sent
    token = token_of(fake_twilio)
    assert Invitation.objects.get().token_hash != token  # stored hashed
    member = services.invitation_accept(token=token, user=other_person)
    assert (member.carrier, member.role) == (Member.objects.get(user=owner).carrier, "dispatcher")
    assert AuditEvent.objects.filter(action="carrier.member_joined").exists()
    with pytest.raises(ApplicationError):
        services.invitation_accept(token=token, user=other_person)


def test_an_invitation_works_only_for_the_invited_phone(owner, other_person, fake_twilio):
    invite(owner, phone="+77019999999")
    with pytest.raises(ApplicationError) as refusal:
        services.invitation_accept(token=token_of(fake_twilio, "+77019999999"), user=other_person)
    assert refusal.value.status == 403
    assert not Member.objects.filter(user=other_person).exists()


def test_an_invitation_expires_after_7_days(owner, other_person, fake_twilio):
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=False) as clock:
        invite(owner)
        clock.shift(dt.timedelta(days=7, seconds=1))
        with pytest.raises(ApplicationError) as refusal:
            services.invitation_accept(token=token_of(fake_twilio), user=other_person)
    assert refusal.value.status == 404


def test_only_the_owner_invites(owner, other_person, fake_twilio):
    invite(owner, role="dispatcher")
    dispatcher = services.invitation_accept(token=token_of(fake_twilio), user=other_person)
    with pytest.raises(ApplicationError) as refusal:
        services.member_invite(by=dispatcher, phone="+77015550000", role="accountant")
    assert refusal.value.status == 403


def test_a_member_of_a_carrier_cannot_be_invited_again(owner, fake_twilio):
    with pytest.raises(ApplicationError) as refusal:
        invite(owner, phone=owner.phone)
    assert "phone" in refusal.value.fields


def test_a8_an_invitation_does_not_tell_whether_the_phone_acts_for_another_carrier(
    owner, fake_twilio
):
    """A member of another carrier is invited as an unknown number is: the owner learns
    nothing about who is registered elsewhere; that person, accepting, is refused."""
    elsewhere = registered_person(
        fake_twilio,
        phone="+77015551234",
        iin="900101300007",
        iin_bin="120240000000",
        email="dana@altyn.kz",
        name="Altyn Trans",
    )
    known = invite(owner, phone=elsewhere.phone)
    unknown = invite(owner, phone="+77015559876")
    assert known.sms_sent and unknown.sms_sent
    with pytest.raises(ApplicationError) as refusal:
        services.invitation_accept(token=token_of(fake_twilio, elsewhere.phone), user=elsewhere)
    assert refusal.value.status == 403
    assert Member.objects.get(user=elsewhere).carrier != Member.objects.get(user=owner).carrier


def test_owner_changes_roles_but_the_last_owner_stays(owner, other_person, fake_twilio):
    invite(owner)
    member = services.invitation_accept(token=token_of(fake_twilio), user=other_person)
    me = Member.objects.get(user=owner)
    services.member_role_change(by=me, member=member, role="accountant")
    assert Member.objects.get(pk=member.pk).role == "accountant"
    with pytest.raises(ApplicationError) as refusal:
        services.member_role_change(by=me, member=me, role="dispatcher")
    assert list(refusal.value.fields) == ["role"]
    services.member_role_change(by=me, member=member, role="owner")
    services.member_role_change(by=me, member=me, role="dispatcher")
    assert Member.objects.get(pk=me.pk).role == "dispatcher"


def test_a5_an_owner_cannot_touch_another_carriers_people(owner, fake_twilio):
    stranger = registered_person(
        fake_twilio,
        iin_bin="377835337400",
        iin="377835337400",
        phone="+77017654321",
        email="stranger@other.kz",
        name="Other Carrier",
    )
    with pytest.raises(ApplicationError) as refusal:
        services.member_role_change(
            by=Member.objects.get(user=owner),
            member=Member.objects.get(user=stranger),
            role="accountant",
        )
    assert refusal.value.status == 404


def test_members_page_invite_and_accept_through_the_browser(
    owner, other_person, fake_twilio, sign_in_browser
):
    owner_browser = sign_in_browser(Client(), owner)
    page = owner_browser.get("/cabinet/members/", **EN).content.decode()
    assert "Invite a person" in page and owner.full_name in page
    response = owner_browser.post(
        "/cabinet/members/",
        {"action": "invite", "phone": "+7 701 765 43 21", "role": "accountant"},
        **EN,
    )
    assert response.status_code == 302
    token = token_of(fake_twilio)
    invitee = Client()
    assert "Sign in" in invitee.get(f"/invite/{token}/", **EN).content.decode()
    sign_in_browser(invitee, other_person)
    assert "Accept the invitation" in invitee.get(f"/invite/{token}/", **EN).content.decode()
    response = invitee.post(f"/invite/{token}/accept/")
    assert response["Location"] == "/cabinet/"
    assert Member.objects.get(user=other_person).role == "accountant"
    assert invitee.get(f"/invite/{token}/").status_code == 404


def test_a5_members_page_of_a_dispatcher_has_no_owner_controls(
    owner, other_person, fake_twilio, sign_in_browser
):
    invite(owner)
    services.invitation_accept(token=token_of(fake_twilio), user=other_person)
    browser = sign_in_browser(Client(), other_person)
    page = browser.get("/cabinet/members/", **EN).content.decode()
    assert "Invite a person" not in page
    me = Member.objects.get(user=owner)
    browser.post("/cabinet/members/", {"action": "role", "member": me.pk, "role": "accountant"})
    assert Member.objects.get(pk=me.pk).role == "owner"


def test_a1_an_invited_person_without_an_account_registers_and_joins(owner, fake_twilio):
    invite(owner, phone="+77015550000", role="dispatcher")
    token = token_of(fake_twilio, "+77015550000")
    browser = Client()
    page = browser.get(f"/invite/{token}/", **EN).content.decode()
    assert "Create my account" in page and "+77015550000" in page
    response = browser.post(
        f"/invite/{token}/",
        {
            "full_name": "Daulet Dispatcher",
            "iin": "377835337400",
            "email": "daulet@steppe.kz",
            "password": "correct horse battery",
            "password_again": "correct horse battery",
        },
        **EN,
    )
    assert response["Location"] == "/register/verify/"
    code = fake_twilio.codes_sent_to("+77015550000")[-1]
    response = browser.post("/register/verify/", {"action": "verify", "code": code})
    assert response["Location"] == f"/signin/?next=/invite/{token}/"
    browser.post(
        response["Location"],
        {"username": "daulet@steppe.kz", "password": "correct horse battery"},
    )
    browser.post("/signin/factor/", {"factor": "sms", "action": "send"})
    code = fake_twilio.codes_sent_to("+77015550000")[-1]
    response = browser.post("/signin/factor/", {"factor": "sms", "action": "verify", "code": code})
    assert response["Location"] == f"/invite/{token}/"
    browser.post(f"/invite/{token}/accept/")
    joined = Member.objects.get(user__email="daulet@steppe.kz")
    assert (joined.carrier, joined.role) == (Member.objects.get(user=owner).carrier, "dispatcher")


# --- The membership a token brings with it ------------------------------------------------------


def test_a_tokens_person_comes_with_membership_and_carrier_in_one_read(
    owner, other_person, django_assert_num_queries
):
    """membership_of, asked by every carrier endpoint, needs no read of its own after token
    sign-in (A4): the token's read brought the membership and the carrier; a person with no
    membership gets None just as cheaply."""
    from auth2fa.models import ApiToken
    from auth2fa.services import api_token_for_secret, api_token_issue
    from carriers.selectors import membership_of

    member = Member.objects.select_related("carrier").get(user=owner)
    for person, expected in ((owner, member), (other_person, None)):
        secret = api_token_issue(user=person, kind=ApiToken.Kind.PERSONAL, name="ci").secret
        token = api_token_for_secret(secret)
        with django_assert_num_queries(0):
            found = membership_of(token.user)
            assert found == expected
            if expected is not None:
                assert found.carrier.name == member.carrier.name
                assert found.user is token.user
    # Signed in another way (a session), the person's membership is read as before.
    person = type(owner).objects.get(pk=owner.pk)
    with django_assert_num_queries(1):
        assert membership_of(person) == member
